// Schema of ifx::conv2d_act. Kernels: conv2d_act_cpu.cpp, conv2d_act_cuda.cpp,
// conv2d_act_meta.cpp; conv2d_act_autograd.cpp keeps it differentiable.
#include "conv2d_act.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {

namespace {
constexpr const char* kOp = "ifx::conv2d_act";
}

void check_conv2d_act_args(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           const Conv2dParams& params) {
  check_float_tensor(input, kOp, "input");
  check_float_tensor(weight, kOp, "weight");
  TORCH_CHECK(input.dim() == 3 || input.dim() == 4, kOp, ": expected a 3-D (unbatched) or 4-D (batched) input, got ",
              input.dim(), "-D of size ", input.sizes());
  TORCH_CHECK(weight.dim() == 4, kOp, ": expected a 4-D weight, got size ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), kOp, ": input (", input.scalar_type(), ") and weight (",
              weight.scalar_type(), ") must have the same dtype");
  check_bias(bias, weight.size(0), input.scalar_type(), kOp);
  TORCH_CHECK(params.stride.size() == 2 && params.padding.size() == 2 && params.dilation.size() == 2, kOp,
              ": stride, padding and dilation must have two values each");
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(params.stride[i] > 0 && params.dilation[i] > 0 && params.padding[i] >= 0, kOp,
                ": expected positive stride and dilation and non-negative padding, got stride ", params.stride,
                ", padding ", params.padding, ", dilation ", params.dilation);
  }
  TORCH_CHECK(params.groups > 0 && weight.size(0) % params.groups == 0, kOp, ": groups (", params.groups,
              ") must be positive and divide the output channels (", weight.size(0), ")");
  const int64_t in_channels = input.size(input.dim() - 3);
  TORCH_CHECK(in_channels == weight.size(1) * params.groups, kOp, ": input has ", in_channels,
              " channels, but weight ", weight.sizes(), " with groups=", params.groups, " expects ",
              weight.size(1) * params.groups);
}

std::vector<int64_t> conv2d_output_size(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& params) {
  std::vector<int64_t> size;
  if (input.dim() == 4) size.push_back(input.size(0));
  size.push_back(weight.size(0));
  for (int i = 0; i < 2; ++i) {
    const int64_t in = input.size(input.dim() - 2 + i);
    const int64_t reach = params.dilation[i] * (weight.size(2 + i) - 1) + 1;
    const int64_t padded = in + 2 * params.padding[i];
    TORCH_CHECK(padded >= reach, kOp, ": input spatial size ", input.sizes(), " (padded by ", params.padding,
                ") is smaller than the dilated kernel ", weight.sizes());
    size.push_back((padded - reach) / params.stride[i] + 1);
  }
  return size;
}

at::MemoryFormat conv2d_output_format(const at::Tensor& input, const at::Tensor& weight) {
  if (input.dim() != 4) return at::MemoryFormat::Contiguous;
  const bool channels_last = input.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                             weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

at::Tensor conv2d_act_reference(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                const std::optional<at::Tensor>& residual, EpilogueActivation activation) {
  at::Tensor y = at::conv2d(input, weight, bias, params.stride, params.padding, params.dilation, params.groups);
  // Some CPU conv backends ignore channels_last; pin the layout the meta
  // kernel promises.
  if (y.dim() == 4) y = y.contiguous(conv2d_output_format(input, weight));
  return epilogue_reference(std::move(y), residual, activation);
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // activation(conv2d(input, weight, bias, ...) + residual); activation is
  // one of none, relu, relu6, hardswish, hardsigmoid, silu, sigmoid.
  m.def(
      "conv2d_act(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, Tensor? residual, str activation) -> Tensor");
}
