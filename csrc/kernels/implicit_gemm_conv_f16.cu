// fp16 instantiations of the implicit-GEMM convolution.
#include "implicit_gemm_conv_instances.cuh"

namespace ifx::kernels::implicit_gemm_conv_detail {
namespace {

using Large = HalfLarge<cutlass::half_t>;
using Small = HalfSmall<cutlass::half_t>;
using FixedChannels = HalfFixedChannels<cutlass::half_t>;
static_assert(Large::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat16, ConvMath::kTf32) &&
                  Small::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat16, ConvMath::kTf32) &&
                  FixedChannels::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat16, ConvMath::kTf32),
              "shapes.h states these kernels' channel alignment");

}  // namespace

cudaError_t launch_f16(ConvTile tile, const ConvOperands& operands, cudaStream_t stream) {
  switch (tile) {
    case ConvTile::kSmall: return run_conv<Small>(operands, stream);
    case ConvTile::kFixedChannels: return run_conv<FixedChannels>(operands, stream);
    default: return run_conv<Large>(operands, stream);
  }
}

}  // namespace ifx::kernels::implicit_gemm_conv_detail
