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

// The squeeze of a squeeze-and-excitation block that reads the conv's output,
// left by the conv's own kernel: each block sums its outputs per channel (the
// stored values, after the epilogue), divides by the image's pixels and
// multiplies by its channels' slice of fc1, writing one partial fc1 vector of
// `hidden` values to its own slot, partials[image][slot][hidden] (float).
// launch_excite (squeeze_excite_kernels.h) adds an image's slots up, in
// order: what launch_squeeze_excite's squeeze kernel leaves, without a
// second read of the output.
struct DepthwiseSqueeze {
  const void* w1 = nullptr;  // fc1 weight [hidden, C], dense, of the conv's type
  int hidden = 0;
  void* partials = nullptr;  // batch * depthwise_squeeze_slots(...) * hidden floats; contents on entry unused
};

// Partial fc1 vectors per image that launch_depthwise_conv2d_squeeze leaves for
// `shape` and `form`, 0 where depthwise_squeeze_supported (shapes.h) refuses.
int depthwise_squeeze_slots(ElementType type, const DepthwiseShape& shape, DepthwiseForm form, int hidden,
                            bool vectors_aligned, bool w1_aligned);

// launch_depthwise_conv2d, also leaving `squeeze`'s partials; cudaErrorInvalidValue where
// depthwise_squeeze_supported refuses the call (alignment taken from the pointers).
cudaError_t launch_depthwise_conv2d_squeeze(ElementType type, const DepthwiseShape& shape, const void* input,
                                            const void* weight, void* output, const Epilogue& epilogue,
                                            const DepthwiseSqueeze& squeeze, cudaStream_t stream, DepthwiseForm form);

}  // namespace ifx::kernels
