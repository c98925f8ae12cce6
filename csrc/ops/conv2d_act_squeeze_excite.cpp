// Schema of ifx::conv2d_act_squeeze_excite, and its kernel for every backend
// without one of its own (CPU): the two ATen compositions in turn, registered
// once as CompositeExplicitAutograd. CUDA: conv2d_act_squeeze_excite_cuda.cpp;
// Meta: _meta.cpp; conv2d_act_squeeze_excite_autograd.cpp keeps it differentiable.
#include "conv2d_act_squeeze_excite.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act_squeeze_excite";

at::Tensor conv2d_act_squeeze_excite_composite(const at::Tensor& input, const at::Tensor& weight,
                                               const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                               at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                               const std::optional<at::Tensor>& residual, c10::string_view activation,
                                               const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                               c10::string_view act1, const at::Tensor& w2,
                                               const std::optional<at::Tensor>& b2, c10::string_view gate) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_squeeze_excite_args(input, weight, bias, params, w1, b1, w2, b2);
  return conv2d_act_squeeze_excite_reference(input, weight, bias, params, residual, parse_activation(activation, kOp),
                                             w1, b1, parse_activation(act1, kOp), w2, b2, parse_activation(gate, kOp));
}

}  // namespace

at::Tensor conv2d_act_squeeze_excite_reference(const at::Tensor& input, const at::Tensor& weight,
                                               const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                               const std::optional<at::Tensor>& residual, Activation activation,
                                               const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                               Activation act1, const at::Tensor& w2,
                                               const std::optional<at::Tensor>& b2, Activation gate) {
  const at::Tensor x = conv2d_act_reference(input, weight, bias, params, residual, activation);
  return squeeze_excite_reference(x, w1, b1, act1, w2, b2, gate);
}

void check_conv2d_act_squeeze_excite_args(const at::Tensor& input, const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                          const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                          const at::Tensor& w2, const std::optional<at::Tensor>& b2) {
  check_conv2d_act_args(input, weight, bias, params);
  TORCH_CHECK(input.dim() == 4, kOp, ": expected a 4-D input [N, C, H, W], got size ", input.sizes());
  // The block's checks (sizes and dtypes only) on a data-less tensor of the conv's output size.
  const at::Tensor x = at::empty(conv2d_output_size(input, weight, params), input.options().device(at::kMeta));
  check_squeeze_excite_args(x, w1, b1, w2, b2);
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // squeeze_excite(conv2d_act(input, weight, bias, stride, padding, dilation, groups, residual, activation),
  // w1, b1, act1, w2, b2, gate): the arguments of the two ops in turn, the first one's output the second one's x.
  m.def(
      "conv2d_act_squeeze_excite(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, "
      "int[2] dilation, int groups, Tensor? residual, str activation, Tensor w1, Tensor? b1, str act1, Tensor w2, "
      "Tensor? b2, str gate) -> Tensor");
}

TORCH_LIBRARY_IMPL(ifx, CompositeExplicitAutograd, m) {
  m.impl("conv2d_act_squeeze_excite", &ifx::ops::conv2d_act_squeeze_excite_composite);
}
