// Shared pieces of ifx::max_pool2d (schema in max_pool.cpp): aten::max_pool2d
// with the same arguments and result, given a kernel of ours for channels_last
// CUDA tensors.
#pragma once

#include <ATen/core/Tensor.h>

namespace ifx::ops {

// aten::max_pool2d itself: the CPU and meta kernels, the CUDA kernel's
// fallback and the differentiable path.
at::Tensor max_pool2d_reference(const at::Tensor& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode);

}  // namespace ifx::ops
