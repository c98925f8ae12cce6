// Kernels of the fused convolution / linear ops: the epilogue that follows a
// cuDNN or cuBLAS call, and a depthwise convolution with the epilogue built
// in. Raw pointers and a stream; no torch headers (design.md §4).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_activation.h"

namespace ifx::kernels {

// out = activation(out + bias[channel] + residual), each term optional.
// Arithmetic in float (double for fp64) with one rounding at the store.
struct Epilogue {
  const void* bias = nullptr;      // `channels` elements of the output's type, or null
  const void* residual = nullptr;  // laid out exactly like the output, or null
  EpilogueActivation activation = EpilogueActivation::kNone;
};

// Applies `epilogue` in place to `numel` densely packed elements. The channel
// of element i is (i / inner) % channels: inner = H*W for NCHW, 1 for NHWC
// and for a linear layer's [rows, features] output.
cudaError_t launch_epilogue(ElementType type, void* data, int64_t numel, int64_t channels, int64_t inner,
                            const Epilogue& epilogue, cudaStream_t stream);

// A depthwise convolution (groups == in channels == out channels, weight
// [C, 1, KH, KW] contiguous), input and output both NCHW or both NHWC dense.
struct DepthwiseShape {
  int batch, channels, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  bool channels_last;
};

// True when the kernel handles `shape`: positive sizes and every index in
// 32 bits. Callers fall back to cuDNN otherwise.
bool depthwise_supported(const DepthwiseShape& shape);

// output = epilogue(conv(input, weight)); the epilogue's residual has the
// output's layout. Accumulates in float (double for fp64).
cudaError_t launch_depthwise_conv2d(ElementType type, const DepthwiseShape& shape, const void* input,
                                    const void* weight, void* output, const Epilogue& epilogue,
                                    cudaStream_t stream);

}  // namespace ifx::kernels
