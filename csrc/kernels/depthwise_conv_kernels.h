// A depthwise convolution (groups == channels) with the fused epilogue built
// in, for the depthwise layers of MobileNet / EfficientNet style networks.
// Which kernel variant takes a shape is depthwise_variant() (shapes.h).
// Raw pointers and a stream; no torch headers.
#pragma once

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// output = epilogue(conv(input, weight)) on a DepthwiseShape (shapes.h): input and output both NCHW-dense or
// both NHWC-dense, weight [C, 1, KH, KW] contiguous, bias (if any) [C], residual (if any) laid out like the
// output, every tensor of type `type`. Accumulates in float (double for fp64), one rounding at the store.
// Taps that fall on the padding read zeros. `form`: how the NHWC kernel works (DepthwiseForm, shapes.h);
// kTwoRows only where depthwise_two_rows_supported and kSharedTile only where depthwise_shared_tile_supported,
// else cudaErrorInvalidValue. No allocation, no synchronization: graph-capture safe.
cudaError_t launch_depthwise_conv2d(ElementType type, const DepthwiseShape& shape, const void* input,
                                    const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream,
                                    DepthwiseForm form = DepthwiseForm::kOneRow);

}  // namespace ifx::kernels
