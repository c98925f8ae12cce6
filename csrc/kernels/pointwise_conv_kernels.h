// A 1x1 convolution (stride 1, no padding, groups 1) with the fused epilogue
// in one kernel, for small maps: the 14x14 and 7x7 layers of MobileNetV3 and
// ResNet at small batch. There cuDNN takes one or two kernels and our
// epilogue another, each a few microseconds of mostly launch and tail.
// Raw pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// output = epilogue(conv1x1(input, weight)) on a PointwiseConvShape (shapes.h); the epilogue's residual has the
// output's layout. Accumulates in float (double for fp64), one rounding at
// the store, never TF32.
cudaError_t launch_pointwise_conv(ElementType type, const PointwiseConvShape& shape, const void* input,
                                  const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
