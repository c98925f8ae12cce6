// How the kernels of csrc/kernels are launched: with programmatic dependent
// launch (PDL) where the GPU has it (sm_90 on), so that a kernel's launch and
// block scheduling overlap the tail of the kernel before it (the gap between
// dependent kernels inside a replayed graph; docs/benchmarks.md, "Graph
// replay"). Every kernel launched this way starts with
// wait_for_previous_kernel(): nothing of its memory is read or written before
// the previous kernel in the stream has finished and its writes are visible.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "launch.h"

namespace ifx::kernels {

// Waits for the previous kernel in the stream (a no-op when launched without PDL
// or before sm_90), then lets the next one start its launch.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = programmatic_launch() ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace ifx::kernels
