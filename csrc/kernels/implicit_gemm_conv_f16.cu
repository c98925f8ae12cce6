// fp16 instantiations of the implicit-GEMM convolution.
#include "implicit_gemm_conv_instances.cuh"

namespace ifx::kernels::implicit_gemm_conv_detail {
namespace {

using Large = HalfLarge<cutlass::half_t>;
using Small = HalfSmall<cutlass::half_t>;
static_assert(Large::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat16, ConvMath::kTf32) &&
                  Small::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat16, ConvMath::kTf32),
              "shapes.h states these kernels' channel alignment");

}  // namespace

cudaError_t launch_f16(ConvTile tile, const ConvOperands& operands, cudaStream_t stream) {
  return tile == ConvTile::kSmall ? run_conv<Small>(operands, stream) : run_conv<Large>(operands, stream);
}

}  // namespace ifx::kernels::implicit_gemm_conv_detail
