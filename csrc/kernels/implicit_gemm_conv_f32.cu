// Exact fp32 instantiations of the implicit-GEMM convolution (CUDA-core FMAs).
#include "implicit_gemm_conv_instances.cuh"

namespace ifx::kernels::implicit_gemm_conv_detail {
namespace {

using Large = F32ExactLarge;
using Small = F32ExactSmall;
static_assert(Large::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat32, ConvMath::kExact) &&
                  Small::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat32, ConvMath::kExact),
              "shapes.h states these kernels' channel alignment");

}  // namespace

cudaError_t launch_f32_exact(ConvTile tile, const ConvOperands& operands, cudaStream_t stream) {
  return tile == ConvTile::kSmall ? run_conv<Small>(operands, stream) : run_conv<Large>(operands, stream);
}

}  // namespace ifx::kernels::implicit_gemm_conv_detail
