// Meta (fake) kernel of ifx::linear_act: aten::linear and the activations have
// meta kernels, so the composition gives the real backends' shape and layout.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "linear_act.h"

namespace ifx::ops {
namespace {

at::Tensor linear_act_meta(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view activation) {
  check_linear_act_args(input, weight, bias);
  return linear_act_reference(input, weight, bias, parse_activation(activation, "ifx::linear_act"));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Meta, m) { m.impl("linear_act", &ifx::ops::linear_act_meta); }
