// Internal to the CUTLASS-based launchers (implicit_gemm_conv_instances.cuh,
// hopper_gemm_instances.cuh): one kernel launch with its dynamic shared
// memory, every error returned rather than left behind.
#pragma once

#include <cuda_runtime.h>

namespace ifx::kernels {

// Launches kernel<<<grid, block, shared_bytes, stream>>>(params). Past the
// 48 KiB default the kernel's shared-memory limit is raised first, per call:
// the attribute belongs to the current device, and setting it is a cheap
// host-side call that stream capture allows. Launched directly rather than
// through CUTLASS's device adapters, which turn launch errors into a bare
// kErrorInternal after consuming cudaGetLastError().
template <typename Params>
cudaError_t launch_with_shared_memory(void (*kernel)(Params), dim3 grid, dim3 block, int shared_bytes,
                                      cudaStream_t stream, const Params& params) {
  if (shared_bytes >= (48 << 10)) {
    const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();  // returned here; do not leave it for an unrelated later check
      return status;
    }
  }
  kernel<<<grid, block, shared_bytes, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace ifx::kernels
