// bf16 instantiations of the Hopper GEMM: one kernel per HopperGemmTile.
#include "hopper_gemm_instances.cuh"

namespace ifx::kernels::hopper_gemm_detail {

cudaError_t launch_bf16(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream) {
  return run_tile<cutlass::bfloat16_t>(tile, operands, stream);
}

}  // namespace ifx::kernels::hopper_gemm_detail
