// launch_implicit_gemm_conv: validates the call and hands it to the per-type
// entry point (implicit_gemm_conv_<type>.cu), which holds the CUTLASS kernels.
#include "implicit_gemm_conv.h"

#include <cstdint>

#include "implicit_gemm_conv_entry.h"

namespace ifx::kernels {
namespace {

bool aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % uintptr_t(bytes) == 0; }

// The kernels are built from Sm80 instructions (cp.async, mma.sync). A build
// that also targets older GPUs would hold versions that trap there instead
// of failing to launch, so those GPUs are refused up front.
cudaError_t check_device() {
  int device = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status != cudaSuccess) return status;
  int major = 0;
  status = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (status != cudaSuccess) return status;
  return major >= 8 ? cudaSuccess : cudaErrorNoKernelImageForDevice;
}

}  // namespace

cudaError_t launch_implicit_gemm_conv(ElementType type, ConvMath math, ConvTile tile,
                                      const ImplicitGemmConvShape& shape, const void* input, const void* weight,
                                      void* output, const Epilogue& epilogue, cudaStream_t stream) {
  if (!implicit_gemm_conv_supported(type, shape, math)) return cudaErrorInvalidValue;
  if (input == nullptr || weight == nullptr || output == nullptr) return cudaErrorInvalidValue;
  // CUTLASS's vector loads and stores assume these alignments without
  // checking them; a misaligned pointer would fault or read wrong elements.
  const int alignment = implicit_gemm_conv_alignment_bytes(type, math);
  const void* const pointers[] = {input, weight, output, epilogue.bias, epilogue.residual};
  for (const void* p : pointers) {
    if (p != nullptr && !aligned(p, alignment)) return cudaErrorInvalidValue;
  }
  const cudaError_t device_status = check_device();
  if (device_status != cudaSuccess) return device_status;

  const implicit_gemm_conv_detail::ConvOperands operands{shape, input, weight, output, epilogue};
  switch (type) {
    case ElementType::kFloat16:
      return implicit_gemm_conv_detail::launch_f16(tile, operands, stream);
    case ElementType::kBFloat16:
      return implicit_gemm_conv_detail::launch_bf16(tile, operands, stream);
    case ElementType::kFloat32:
      return math == ConvMath::kTf32 ? implicit_gemm_conv_detail::launch_tf32(tile, operands, stream)
                                     : implicit_gemm_conv_detail::launch_f32_exact(tile, operands, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace ifx::kernels
