// A 1x1 convolution (stride 1, no padding, groups 1) with the fused epilogue
// in one kernel, for small maps: the 14x14 and 7x7 layers of MobileNetV3 and
// ResNet at small batch. There cuDNN takes one or two kernels and our
// epilogue another, each a few microseconds of mostly launch and tail.
// Raw pointers and a stream; no torch headers (design.md §4).
#pragma once

#include <cuda_runtime.h>

#include "conv_kernels.h"
#include "element_type.h"

namespace ifx::kernels {

// input [batch, in_channels, pixels] (NCHW) or [batch, pixels, in_channels]
// (channels_last), weight [out_channels, in_channels], output laid out like
// the input with out_channels; pixels = H * W. All dense.
struct PointwiseConvShape {
  int batch, in_channels, out_channels, pixels;
  bool channels_last;
};

// True when the kernel handles `shape`: positive sizes, every index in 32 bits.
bool pointwise_conv_supported(const PointwiseConvShape& shape);

// output = epilogue(conv1x1(input, weight)); the epilogue's residual has the
// output's layout. Accumulates in float (double for fp64), one rounding at
// the store, never TF32.
cudaError_t launch_pointwise_conv(ElementType type, const PointwiseConvShape& shape, const void* input,
                                  const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
