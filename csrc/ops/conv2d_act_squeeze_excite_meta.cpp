// Meta (fake) kernel of ifx::conv2d_act_squeeze_excite: shape, dtype and
// layout only, the ones every backend returns (the conv's output layout, as
// ifx::conv2d_act's meta kernel gives it, kept by the block's scale).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "conv2d_act_squeeze_excite.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act_squeeze_excite";

at::Tensor conv2d_act_squeeze_excite_meta(const at::Tensor& input, const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                          const std::optional<at::Tensor>& residual, c10::string_view activation,
                                          const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                          c10::string_view act1, const at::Tensor& w2,
                                          const std::optional<at::Tensor>& b2, c10::string_view gate) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_squeeze_excite_args(input, weight, bias, params, w1, b1, w2, b2);
  at::Tensor y = at::empty(conv2d_output_size(input, weight, params), input.options(),
                           conv2d_output_format(input, weight));
  y = epilogue_reference(std::move(y), residual, parse_activation(activation, kOp));
  return squeeze_excite_reference(y, w1, b1, parse_activation(act1, kOp), w2, b2, parse_activation(gate, kOp));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Meta, m) { m.impl("conv2d_act_squeeze_excite", &ifx::ops::conv2d_act_squeeze_excite_meta); }
