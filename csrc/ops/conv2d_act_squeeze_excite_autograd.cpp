// Autograd kernel of ifx::conv2d_act_squeeze_excite. Inference skips autograd
// entirely; when something requires grad, the op runs as its ATen
// compositions, whose ops record their own backward, so gradients equal eager's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "conv2d_act_squeeze_excite.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act_squeeze_excite";

using Op = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, at::IntArrayRef,
                      at::IntArrayRef, at::IntArrayRef, int64_t, const std::optional<at::Tensor>&, c10::string_view,
                      const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view, const at::Tensor&,
                      const std::optional<at::Tensor>&, c10::string_view);

bool requires_grad(const std::optional<at::Tensor>& t) { return t && t->requires_grad(); }

at::Tensor conv2d_act_squeeze_excite_autograd(const at::Tensor& input, const at::Tensor& weight,
                                              const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                              at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                              const std::optional<at::Tensor>& residual, c10::string_view activation,
                                              const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                              c10::string_view act1, const at::Tensor& w2,
                                              const std::optional<at::Tensor>& b2, c10::string_view gate) {
  const bool records_gradient =
      at::GradMode::is_enabled() && (input.requires_grad() || weight.requires_grad() || requires_grad(bias) ||
                                     requires_grad(residual) || w1.requires_grad() || requires_grad(b1) ||
                                     w2.requires_grad() || requires_grad(b2));
  if (records_gradient) {
    const Conv2dParams params{stride, padding, dilation, groups};
    check_conv2d_act_squeeze_excite_args(input, weight, bias, params, w1, b1, w2, b2);
    return conv2d_act_squeeze_excite_reference(input, weight, bias, params, residual,
                                               parse_activation(activation, kOp), w1, b1, parse_activation(act1, kOp),
                                               w2, b2, parse_activation(gate, kOp));
  }
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow(kOp, "").typed<Op>();
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(input, weight, bias, stride, padding, dilation, groups, residual, activation, w1, b1, act1, w2, b2,
                 gate);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) {
  m.impl("conv2d_act_squeeze_excite", &ifx::ops::conv2d_act_squeeze_excite_autograd);
}
