// fp32 (TF32 tensor cores) instantiations of the Hopper GEMM: one kernel per HopperGemmTile.
#include "hopper_gemm_instances.cuh"

namespace ifx::kernels::hopper_gemm_detail {

cudaError_t launch_tf32(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream) {
  return run_tile<float>(tile, operands, stream);
}

}  // namespace ifx::kernels::hopper_gemm_detail
