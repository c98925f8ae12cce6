// ifx::like_layout(y, like): y in the memory format `like` suggests when both
// are 4-D, y as it is otherwise. The optimized graph returns its outputs
// through it once its convs run channels_last (passes/channels_last_convs.h),
// so a model given NCHW input still returns NCHW outputs, as eager does. One
// composite kernel for every backend: contiguous() has them all, and autograd.
#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {
namespace {

at::Tensor like_layout(const at::Tensor& y, const at::Tensor& like) {
  if (y.dim() != 4 || like.dim() != 4) return y;
  return y.contiguous(like.suggest_memory_format());
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) { m.def("like_layout(Tensor y, Tensor like) -> Tensor"); }

TORCH_LIBRARY_IMPL(ifx, CompositeImplicitAutograd, m) { m.impl("like_layout", &ifx::ops::like_layout); }
