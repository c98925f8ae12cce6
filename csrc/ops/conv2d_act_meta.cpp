// Meta (fake) kernel of ifx::conv2d_act: shape, dtype and layout only, the
// ones every backend returns, for FakeTensor, torch.compile and torch.export.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "conv2d_act.h"

namespace ifx::ops {
namespace {

at::Tensor conv2d_act_meta(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                           const std::optional<at::Tensor>& residual, c10::string_view activation) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_args(input, weight, bias, params);
  at::Tensor y = at::empty(conv2d_output_size(input, weight, params), input.options(),
                           conv2d_output_format(input, weight));
  // ATen's add and activations have meta kernels: broadcasting and type
  // promotion with the residual come out as on the real backends.
  return epilogue_reference(std::move(y), residual, parse_activation(activation, "ifx::conv2d_act"));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Meta, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_meta); }
