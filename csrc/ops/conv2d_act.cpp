// Schema of ifx::conv2d_act. Kernels: conv2d_act_cpu.cpp, conv2d_act_cuda.cpp,
// conv2d_act_meta.cpp; conv2d_act_autograd.cpp keeps it differentiable.
#include "conv2d_act.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernel_dtype.h"

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
                                const std::optional<at::Tensor>& residual, Activation activation) {
  at::Tensor y = at::conv2d(input, weight, bias, params.stride, params.padding, params.dilation, params.groups);
  // Some CPU conv backends ignore channels_last; pin the layout the meta
  // kernel promises.
  if (y.dim() == 4) y = y.contiguous(conv2d_output_format(input, weight));
  return epilogue_reference(std::move(y), residual, activation);
}

namespace {

// The fused kernels take a residual laid out exactly like the output, of
// the same dtype; broadcasting or promoting residuals take the ATen path.
bool residual_fits(const std::optional<at::Tensor>& residual, const at::Tensor& input,
                   const std::vector<int64_t>& output_size) {
  if (!residual.has_value()) return true;
  return residual->sizes() == at::IntArrayRef(output_size) && residual->scalar_type() == input.scalar_type() &&
         residual->device() == input.device() && residual->layout() == at::kStrided;
}

bool same_device(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  return weight.device() == input.device() && (!bias.has_value() || bias->device() == input.device());
}

}  // namespace

ConvCall describe_conv2d_act(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             const Conv2dParams& p, const std::optional<at::Tensor>& residual, Activation activation,
                             const std::vector<int64_t>& out_size) {
  ConvCall call;
  call.kernels_apply = input.dim() == 4 && input.numel() > 0 && same_device(input, weight, bias) &&
                       residual_fits(residual, input, out_size);
  if (!call.kernels_apply) return call;
  call.dtype = *fused_element_type(input.scalar_type());
  call.channels_last = conv2d_output_format(input, weight) == at::MemoryFormat::ChannelsLast;
  call.batch = input.size(0);
  call.in_channels = input.size(1);
  call.in_h = input.size(2);
  call.in_w = input.size(3);
  call.out_channels = weight.size(0);
  call.out_h = out_size[2];
  call.out_w = out_size[3];
  call.kernel_h = weight.size(2);
  call.kernel_w = weight.size(3);
  call.stride_h = p.stride[0];
  call.stride_w = p.stride[1];
  call.pad_h = p.padding[0];
  call.pad_w = p.padding[1];
  call.dilation_h = p.dilation[0];
  call.dilation_w = p.dilation[1];
  call.groups = p.groups;
  call.has_bias = bias.has_value();
  call.has_residual = residual.has_value();
  const auto aligned = [](const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.const_data_ptr()) % 16 == 0; };
  call.residual_aligned = !residual.has_value() || aligned(*residual);
  const bool is_1x1 = weight.size(2) == 1 && weight.size(3) == 1;
  call.weight_channels_last = weight.is_contiguous(at::MemoryFormat::ChannelsLast) || (is_1x1 && weight.is_contiguous());
  // A non-channels_last input is copied (aligned) first; one that is already
  // channels_last is read where it is.
  const bool input_aligned = !input.is_contiguous(at::MemoryFormat::ChannelsLast) || aligned(input);
  call.operands_aligned = input_aligned && aligned(weight) && (!bias.has_value() || aligned(*bias)) &&
                          call.residual_aligned;
  call.activation = activation;
  return call;
}

MathFlags current_math_flags() {
  MathFlags flags;
  flags.cudnn_enabled = at::globalContext().userEnabledCuDNN();
  flags.allow_tf32 = at::globalContext().allowTF32CuDNN();
  flags.cudnn_deterministic = at::globalContext().deterministicCuDNN();
  return flags;
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // activation(conv2d(input, weight, bias, ...) + residual); activation is a
  // name of csrc/kernels/activations.h.
  m.def(
      "conv2d_act(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, Tensor? residual, str activation) -> Tensor");
}
