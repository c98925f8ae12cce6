// Dense convolutions (groups == 1) as CUTLASS 2.x implicit-GEMM kernels
// (the Sm80 tensor-op path, which H100 / H200 run) with the whole epilogue in
// the convolution kernel: one launch instead of cuDNN's convolution followed
// by our epilogue kernel. Raw pointers and a stream; no torch or CUTLASS
// headers here, so callers compile without CUTLASS on their include path.
#pragma once

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

}  // namespace ifx::kernels
