// Dense convolutions (groups == 1) as CUTLASS 2.x implicit-GEMM kernels
// (the Sm80 tensor-op path, which H100 / H200 run) with the whole epilogue in
// the convolution kernel: one launch instead of cuDNN's convolution followed
// by our epilogue kernel. Raw pointers and a stream; no torch or CUTLASS
// headers here, so callers compile without CUTLASS on their include path.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// output = activation(conv(input, weight) + bias[k] + residual) on an
// ImplicitGemmConvShape (shapes.h), all tensors of `type`: input NHWC, weight
// KRSC, output and residual NHWC with out_channels, bias out_channels long;
// bias and residual optional, the activation chosen at run time. The residual
// may be the output itself (each element is read before it is overwritten,
// by the same thread) but must not overlap it otherwise.
//
// Arithmetic: fp16 / bf16 multiply on tensor cores, fp32 on TF32 tensor cores
// (ConvMath::kTf32) or CUDA-core FMAs (kExact); accumulation and the epilogue
// in fp32, one rounding at the store. fp64 is not covered.
//
// Returns cudaErrorInvalidValue, launching nothing, unless
// implicit_gemm_conv_supported(type, shape, math) holds, input / weight /
// output are non-null and every non-null pointer (bias and residual
// included) is aligned to implicit_gemm_conv_alignment_bytes(type, math):
// 16 bytes, 4 for fp32 kExact. cudaErrorNoKernelImageForDevice on GPUs older
// than sm_80. Otherwise the launch's status (cudaGetLastError()).
//
// No workspace, allocation or synchronization: usable under CUDA graph
// capture.
cudaError_t launch_implicit_gemm_conv(ElementType type, ConvMath math, ConvTile tile,
                                      const ImplicitGemmConvShape& shape, const void* input, const void* weight,
                                      void* output, const Epilogue& epilogue, cudaStream_t stream);

// Parallel split-K for fp32 convolutions with few output tiles, where one
// block per 64x64 tile leaves most SMs idle: a linear layer at batch 64 (as a
// 1x1 conv over [rows, 1, 1, features]) is 16-20 tiles for 132 SMs. The
// reduction over C*R*S is cut into `slices` parts that run as blocks of their
// own (the small tile, `math` as above), each writing its partial sums to
// `partials`; a second kernel adds the parts in slice order, applies the
// epilogue and writes `output`. Two kernels, no atomics: the result does not
// depend on scheduling.
//
// `partials` holds implicit_gemm_conv_split_k_partials(shape, slices) floats,
// aligned to 16 bytes and used by nothing else until the second kernel ends.
// Returns cudaErrorInvalidValue, launching nothing, unless `type` is
// kFloat32, 2 <= slices <= kImplicitGemmSplitKMaxSlices (shapes.h), the shape and
// pointers pass launch_implicit_gemm_conv's checks and partials is non-null.
// No allocation or synchronization: usable under CUDA graph capture.
int64_t implicit_gemm_conv_split_k_partials(const ImplicitGemmConvShape& shape, int slices);
cudaError_t launch_implicit_gemm_conv_split_k(ElementType type, ConvMath math, const ImplicitGemmConvShape& shape,
                                              int slices, const void* input, const void* weight, void* output,
                                              float* partials, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
