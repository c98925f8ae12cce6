// CUDA kernel of ifx::conv2d_act. Depthwise convolutions run in one kernel of
// ours with the epilogue built in; other convolutions run in cuDNN (through
// ATen, without bias) followed by one epilogue kernel for bias + residual +
// activation. Anything the kernels do not cover takes the ATen composition.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

#include "conv2d_act.h"
#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act";

void check_launch(cudaError_t status) {
  TORCH_CHECK(status == cudaSuccess, kOp, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

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

bool is_depthwise(const at::Tensor& input, const at::Tensor& weight, int64_t groups) {
  return input.dim() == 4 && groups > 1 && groups == input.size(1) && weight.size(0) == groups && weight.size(1) == 1;
}

kernels::Epilogue make_epilogue(const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& residual,
                                EpilogueActivation activation) {
  kernels::Epilogue epilogue;
  epilogue.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;
  epilogue.residual = residual.has_value() ? residual->const_data_ptr() : nullptr;
  epilogue.activation = activation;
  return epilogue;
}

int as_int(int64_t v) { return static_cast<int>(std::min<int64_t>(v, std::numeric_limits<int>::max())); }

kernels::DepthwiseShape depthwise_shape(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& p,
                                        const std::vector<int64_t>& out, bool channels_last) {
  return kernels::DepthwiseShape{
      as_int(input.size(0)), as_int(input.size(1)), as_int(input.size(2)), as_int(input.size(3)),
      as_int(out[2]),        as_int(out[3]),        as_int(weight.size(2)), as_int(weight.size(3)),
      as_int(p.stride[0]),   as_int(p.stride[1]),   as_int(p.padding[0]),  as_int(p.padding[1]),
      as_int(p.dilation[0]), as_int(p.dilation[1]), channels_last};
}

// Runs the depthwise kernel if it covers this call; returns an undefined
// tensor otherwise.
at::Tensor try_depthwise(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                         EpilogueActivation activation, const std::vector<int64_t>& out_size) {
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  const bool channels_last = format == at::MemoryFormat::ChannelsLast;
  const kernels::DepthwiseShape shape = depthwise_shape(input, weight, params, out_size, channels_last);
  if (!kernels::depthwise_supported(shape)) return {};
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  const std::optional<at::Tensor> b = bias.has_value() ? std::optional<at::Tensor>(bias->contiguous()) : std::nullopt;
  const std::optional<at::Tensor> r =
      residual.has_value() ? std::optional<at::Tensor>(residual->contiguous(format)) : std::nullopt;
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_depthwise_conv2d(kernel_element_type(input.scalar_type()), shape, x.const_data_ptr(),
                                                w.const_data_ptr(), out.mutable_data_ptr(), make_epilogue(b, r, activation),
                                                at::cuda::getCurrentCUDAStream()));
  return out;
}

// cuDNN without bias, then bias + residual + activation in one pass over
// the output (cuDNN would add the bias in a kernel of its own).
at::Tensor conv_then_epilogue(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                              const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                              EpilogueActivation activation) {
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  at::Tensor y = at::conv2d(input, weight, std::nullopt, params.stride, params.padding, params.dilation,
                            params.groups)
                     .contiguous(format);
  const std::optional<at::Tensor> b = bias.has_value() ? std::optional<at::Tensor>(bias->contiguous()) : std::nullopt;
  const std::optional<at::Tensor> r =
      residual.has_value() ? std::optional<at::Tensor>(residual->contiguous(format)) : std::nullopt;
  const int64_t inner = format == at::MemoryFormat::ChannelsLast ? 1 : y.size(2) * y.size(3);
  check_launch(kernels::launch_epilogue(kernel_element_type(y.scalar_type()), y.mutable_data_ptr(), y.numel(),
                                        y.size(1), inner, make_epilogue(b, r, activation),
                                        at::cuda::getCurrentCUDAStream()));
  return y;
}

at::Tensor conv2d_act_cuda(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                           const std::optional<at::Tensor>& residual, c10::string_view activation_name) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_args(input, weight, bias, params);
  const EpilogueActivation activation = parse_activation(activation_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const std::vector<int64_t> out_size = conv2d_output_size(input, weight, params);
  const bool fused = input.dim() == 4 && input.numel() > 0 && same_device(input, weight, bias) &&
                     residual_fits(residual, input, out_size);
  if (!fused) return conv2d_act_reference(input, weight, bias, params, residual, activation);
  if (is_depthwise(input, weight, groups)) {
    at::Tensor out = try_depthwise(input, weight, bias, params, residual, activation, out_size);
    if (out.defined()) return out;
  }
  return conv_then_epilogue(input, weight, bias, params, residual, activation);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_cuda); }
