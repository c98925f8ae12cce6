// fp16 instantiations of the Hopper GEMM: one kernel per HopperGemmTile.
#include "hopper_gemm_instances.cuh"

namespace ifx::kernels::hopper_gemm_detail {

cudaError_t launch_f16(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream) {
  return run_tile<cutlass::half_t>(tile, operands, stream);
}

cudaError_t query_sm90a_image(bool* present) {
  // Every type's kernels are built with the same flags, so one kernel tells.
  cudaFuncAttributes attributes{};
  const cudaError_t status =
      cudaFuncGetAttributes(&attributes, cutlass::device_kernel<Tiles<cutlass::half_t>::Tile64x64::Kernel>);
  if (status == cudaErrorInvalidDeviceFunction || status == cudaErrorNoKernelImageForDevice) {
    (void)cudaGetLastError();  // no code for this device at all: an answer, not an error
    *present = false;
    return cudaSuccess;
  }
  if (status != cudaSuccess) return status;
  // sm_90 machine code can only be the sm_90a build here (hopper_gemm_instances.cuh
  // refuses plain sm_90), and code JIT-compiled from older PTX would be CUTLASS's
  // empty stand-in kernel, hence the PTX version too.
  *present = attributes.binaryVersion == 90 && attributes.ptxVersion >= 90;
  return cudaSuccess;
}

}  // namespace ifx::kernels::hopper_gemm_detail
