// Internal to launch_implicit_gemm_conv: the per-type entry points that
// implicit_gemm_conv.cu dispatches to, each defined in its own
// implicit_gemm_conv_<type>.cu. Kept apart from the CUTLASS templates
// (implicit_gemm_conv_instances.cuh) so the dispatcher compiles without them.
#pragma once

#include <cuda_runtime.h>

#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels::implicit_gemm_conv_detail {

// One convolution's operands, already validated by the dispatcher. With
// split_k_slices > 1 the reduction is split in that many parts (CUTLASS's
// parallel split-K): `output` then receives each part's partial sums, one
// output-sized tensor after another, and `epilogue` must be empty.
struct ConvOperands {
  ImplicitGemmConvShape shape;
  const void* input;
  const void* weight;
  void* output;
  Epilogue epilogue;
  int split_k_slices = 1;
};

cudaError_t launch_f16(ConvTile tile, const ConvOperands& operands, cudaStream_t stream);
cudaError_t launch_bf16(ConvTile tile, const ConvOperands& operands, cudaStream_t stream);
cudaError_t launch_tf32(ConvTile tile, const ConvOperands& operands, cudaStream_t stream);
cudaError_t launch_f32_exact(ConvTile tile, const ConvOperands& operands, cudaStream_t stream);

}  // namespace ifx::kernels::implicit_gemm_conv_detail
