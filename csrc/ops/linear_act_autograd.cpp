// Autograd kernel of ifx::linear_act. Inference skips autograd entirely; when
// something requires grad, the op runs as its ATen composition, whose ops
// record their own backward, so gradients equal eager's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "linear_act.h"

namespace ifx::ops {
namespace {

using LinearActOp = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                               c10::string_view);

at::Tensor linear_act_autograd(const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, c10::string_view activation) {
  const bool records_gradient = at::GradMode::is_enabled() &&
                                (input.requires_grad() || weight.requires_grad() || (bias && bias->requires_grad()));
  if (records_gradient) {
    check_linear_act_args(input, weight, bias);
    return linear_act_reference(input, weight, bias, parse_activation(activation, "ifx::linear_act"));
  }
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("ifx::linear_act", "").typed<LinearActOp>();
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(input, weight, bias, activation);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) { m.impl("linear_act", &ifx::ops::linear_act_autograd); }
