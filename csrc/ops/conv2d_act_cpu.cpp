// CPU kernel of ifx::conv2d_act: ATen's conv, add and activation, which are
// what the unfused graph ran.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "conv2d_act.h"

namespace ifx::ops {
namespace {

at::Tensor conv2d_act_cpu(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                          at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                          const std::optional<at::Tensor>& residual, c10::string_view activation) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_args(input, weight, bias, params);
  return conv2d_act_reference(input, weight, bias, params, residual, parse_activation(activation, "ifx::conv2d_act"));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CPU, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_cpu); }
