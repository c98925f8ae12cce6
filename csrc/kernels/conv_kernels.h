// Kernels of the fused convolution / linear ops: the epilogue that follows a
// cuDNN or cuBLAS call. The depthwise convolution lives in
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

}  // namespace ifx::kernels
