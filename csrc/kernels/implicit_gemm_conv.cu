// launch_implicit_gemm_conv: validates the call and hands it to the per-type
// entry point (implicit_gemm_conv_<type>.cu), which holds the CUTLASS kernels.
#include "implicit_gemm_conv.h"

#include <cstdint>

#include "implicit_gemm_conv_entry.h"
#include "split_k_sum_kernels.h"

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

// The checks every launch makes before anything runs.
cudaError_t check_call(ElementType type, ConvMath math, const ImplicitGemmConvShape& shape, const void* input,
                       const void* weight, const void* output, const Epilogue& epilogue) {
  if (!implicit_gemm_conv_supported(type, shape, math)) return cudaErrorInvalidValue;
  if (input == nullptr || weight == nullptr || output == nullptr) return cudaErrorInvalidValue;
  // CUTLASS's vector loads and stores assume these alignments without
  // checking them; a misaligned pointer would fault or read wrong elements.
  const int alignment = implicit_gemm_conv_alignment_bytes(type, math);
  const void* const pointers[] = {input, weight, output, epilogue.bias, epilogue.residual};
  for (const void* p : pointers) {
    if (p != nullptr && !aligned(p, alignment)) return cudaErrorInvalidValue;
  }
  return check_device();
}

int64_t output_elements(const ImplicitGemmConvShape& s) {
  return int64_t(s.batch) * s.out_h * s.out_w * s.out_channels;
}

}  // namespace

int64_t implicit_gemm_conv_split_k_partials(const ImplicitGemmConvShape& shape, int slices) {
  return int64_t(slices) * output_elements(shape);
}

cudaError_t launch_implicit_gemm_conv_split_k(ElementType type, ConvMath math, const ImplicitGemmConvShape& shape,
                                              int slices, const void* input, const void* weight, void* output,
                                              float* partials, const Epilogue& epilogue, cudaStream_t stream) {
  if (type != ElementType::kFloat32 || slices < 2 || slices > kImplicitGemmSplitKMaxSlices) return cudaErrorInvalidValue;
  if (partials == nullptr || !aligned(partials, 16)) return cudaErrorInvalidValue;
  const cudaError_t call_status = check_call(type, math, shape, input, weight, output, epilogue);
  if (call_status != cudaSuccess) return call_status;

  implicit_gemm_conv_detail::ConvOperands operands{shape, input, weight, partials, Epilogue{}};
  operands.split_k_slices = slices;
  const cudaError_t status = math == ConvMath::kTf32
                                 ? implicit_gemm_conv_detail::launch_tf32(ConvTile::kSmall, operands, stream)
                                 : implicit_gemm_conv_detail::launch_f32_exact(ConvTile::kSmall, operands, stream);
  if (status != cudaSuccess) return status;

  return launch_split_k_sum(partials, slices, output_elements(shape), shape.out_channels, static_cast<float*>(output),
                            epilogue, stream);
}

cudaError_t launch_implicit_gemm_conv(ElementType type, ConvMath math, ConvTile tile,
                                      const ImplicitGemmConvShape& shape, const void* input, const void* weight,
                                      void* output, const Epilogue& epilogue, cudaStream_t stream) {
  const cudaError_t call_status = check_call(type, math, shape, input, weight, output, epilogue);
  if (call_status != cudaSuccess) return call_status;

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
