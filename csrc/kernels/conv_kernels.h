// Kernels of the fused convolution / linear ops: the epilogue that follows a
// cuDNN or cuBLAS call, and the channel padding of a conv's operands. The depthwise convolution lives in
// depthwise_conv_kernels.h. Raw pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// Applies `epilogue` (epilogue_args.h) in place to `numel` densely packed
// elements, in float (double for fp64) with one rounding at the store. The
// channel of element i is (i / inner) % channels: inner = H*W for NCHW, 1 for
// NHWC and for a linear layer's [rows, features] output.
cudaError_t launch_epilogue(ElementType type, void* data, int64_t numel, int64_t channels, int64_t inner,
                            const Epilogue& epilogue, cudaStream_t stream);

// out[image][pixel][c] = c < channels ? in(image, c, pixel) : 0 for c < padded,
// elements of `element_bytes` bytes (2, 4 or 8; copied as bits, and zero bits
// are +0 in every float type): `in` dense as [images][channels][pixels]
// (`channels_first`) or [images][pixels][channels], `out` dense
// [images][pixels][padded], no overlap. Pads the channels of a channels_last
// conv's input ([N][H*W][C]) or weight ([K][R*S][C]) with zeros up to whole
// 16-byte vectors in one pass, so that the conv runs on kernels that load 16
// bytes at a time (the ChannelPadded conv path, ops/kernel_choice.h).
cudaError_t launch_pad_channels(int element_bytes, const void* in, void* out, int64_t images, int64_t channels,
                                int64_t pixels, int64_t padded, bool channels_first, cudaStream_t stream);

}  // namespace ifx::kernels
