// CPU kernel of ifx::linear_act: ATen's linear and activation, which are what
// the unfused graph ran.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "linear_act.h"

namespace ifx::ops {
namespace {

at::Tensor linear_act_cpu(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                          c10::string_view activation) {
  check_linear_act_args(input, weight, bias);
  return linear_act_reference(input, weight, bias, parse_activation(activation, "ifx::linear_act"));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CPU, m) { m.impl("linear_act", &ifx::ops::linear_act_cpu); }
