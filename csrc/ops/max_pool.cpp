// Schema of ifx::max_pool2d, and its kernel for every backend without one of
// its own (CPU, Meta): aten::max_pool2d, registered once as
// CompositeExplicitAutograd. CUDA: max_pool_cuda.cpp; max_pool_autograd.cpp
// keeps it differentiable.
#include "max_pool.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {

at::Tensor max_pool2d_reference(const at::Tensor& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  return at::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // aten::max_pool2d's schema and meaning.
  m.def("max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, "
        "bool ceil_mode=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(ifx, CompositeExplicitAutograd, m) { m.impl("max_pool2d", &ifx::ops::max_pool2d_reference); }
