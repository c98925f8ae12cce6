// Autograd kernel of ifx::max_pool2d. Inference skips autograd entirely; when
// x requires grad, the op runs as aten::max_pool2d, which records its own
// backward, so gradients equal eager's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "max_pool.h"

namespace ifx::ops {
namespace {

using MaxPoolOp = at::Tensor(const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                             bool);

at::Tensor max_pool2d_autograd(const at::Tensor& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                               at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    return max_pool2d_reference(x, kernel_size, stride, padding, dilation, ceil_mode);
  }
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("ifx::max_pool2d", "").typed<MaxPoolOp>();
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(x, kernel_size, stride, padding, dilation, ceil_mode);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) { m.impl("max_pool2d", &ifx::ops::max_pool2d_autograd); }
