// Internal to launch_hopper_gemm: the per-type entry points that hopper_gemm.cu
// dispatches to, each defined in its own hopper_gemm_<type>.cu. Kept apart
// from the CUTLASS templates (hopper_gemm_instances.cuh) so that the
// dispatcher compiles without them.
#pragma once

#include <cuda_runtime.h>

#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels::hopper_gemm_detail {

// One product's operands, already validated by the dispatcher.
struct GemmOperands {
  HopperGemmShape shape;
  const void* a;
  const void* b;
  void* out;
  Epilogue epilogue;
  int multiprocessors;  // of the current device: the persistent kernels start one block per SM
};

cudaError_t launch_f16(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream);
cudaError_t launch_bf16(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream);
cudaError_t launch_tf32(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream);

// Whether the sm_90a code of the kernels is what the current device loads
// (hopper_gemm_f16.cu; the other types are built with the same flags).
cudaError_t query_sm90a_image(bool* present);

}  // namespace ifx::kernels::hopper_gemm_detail
