// Autograd kernel of ifx::conv2d_act. Inference skips autograd entirely; when
// something requires grad, the op runs as its ATen composition, whose ops
// record their own backward, so gradients equal eager's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "conv2d_act.h"

namespace ifx::ops {
namespace {

using Conv2dActOp = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, at::IntArrayRef,
                               at::IntArrayRef, at::IntArrayRef, int64_t, const std::optional<at::Tensor>&,
                               c10::string_view);

bool records_gradient(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                      const std::optional<at::Tensor>& residual) {
  if (!at::GradMode::is_enabled()) return false;
  return input.requires_grad() || weight.requires_grad() || (bias && bias->requires_grad()) ||
         (residual && residual->requires_grad());
}

at::Tensor conv2d_act_autograd(const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, const std::optional<at::Tensor>& residual,
                               c10::string_view activation) {
  if (records_gradient(input, weight, bias, residual)) {
    const Conv2dParams params{stride, padding, dilation, groups};
    check_conv2d_act_args(input, weight, bias, params);
    return conv2d_act_reference(input, weight, bias, params, residual,
                                parse_activation(activation, "ifx::conv2d_act"));
  }
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("ifx::conv2d_act", "").typed<Conv2dActOp>();
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(input, weight, bias, stride, padding, dilation, groups, residual, activation);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_autograd); }
