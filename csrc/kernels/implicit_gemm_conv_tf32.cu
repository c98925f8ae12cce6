// fp32 instantiations of the implicit-GEMM convolution on TF32 tensor cores.
#include "implicit_gemm_conv_instances.cuh"

namespace ifx::kernels::implicit_gemm_conv_detail {
namespace {

using Large = Tf32Large;
using Small = Tf32Small;
static_assert(Large::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat32, ConvMath::kTf32) &&
                  Small::kAccessElements == implicit_gemm_conv_alignment(ElementType::kFloat32, ConvMath::kTf32),
              "shapes.h states these kernels' channel alignment");

}  // namespace

cudaError_t launch_tf32(ConvTile tile, const ConvOperands& operands, cudaStream_t stream) {
  return tile == ConvTile::kSmall ? run_conv<Small>(operands, stream) : run_conv<Large>(operands, stream);
}

}  // namespace ifx::kernels::implicit_gemm_conv_detail
