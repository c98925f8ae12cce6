// CUDA kernel of ifx::conv2d_act, one path per kind of layer:
// - depthwise: one kernel of ours with the epilogue built in (cuDNN + the
//   epilogue kernel for big 16-bit channels_last calls, where cuDNN is faster);
// - 1x1 on a 1x1 map at small batch (squeeze-and-excitation): one few-rows
//   matmul kernel with the epilogue built in;
// - 1x1 with stride 1 on few pixels in all: one pointwise kernel of ours
//   (a matrix product) with the epilogue built in;
// - bias + relu, with or without a residual, in fp32/fp16: cuDNN's fused
//   convolution, as torch.jit.optimize_for_inference uses;
// - anything else: cuDNN without bias, then one epilogue kernel for bias +
//   residual + activation.
// Arguments the kernels do not cover take the ATen composition.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/accumulate.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "conv2d_act.h"
#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"
#include "kernels/matmul_kernels.h"
#include "kernels/pointwise_conv_kernels.h"

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

// Bias and residual made dense in the output's layout (kept alive through
// the launch), and the kernels' view of them.
struct EpilogueOperands {
  std::optional<at::Tensor> bias, residual;

  EpilogueOperands(const std::optional<at::Tensor>& b, const std::optional<at::Tensor>& r, at::MemoryFormat format)
      : bias(b.has_value() ? std::optional<at::Tensor>(b->contiguous()) : std::nullopt),
        residual(r.has_value() ? std::optional<at::Tensor>(r->contiguous(format)) : std::nullopt) {}

  kernels::Epilogue view(EpilogueActivation activation) const {
    kernels::Epilogue epilogue;
    epilogue.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;
    epilogue.residual = residual.has_value() ? residual->const_data_ptr() : nullptr;
    epilogue.activation = activation;
    return epilogue;
  }
};

int as_int(int64_t v) { return static_cast<int>(std::min<int64_t>(v, std::numeric_limits<int>::max())); }

kernels::DepthwiseShape depthwise_shape(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& p,
                                        const std::vector<int64_t>& out, bool channels_last) {
  return kernels::DepthwiseShape{
      as_int(input.size(0)), as_int(input.size(1)), as_int(input.size(2)), as_int(input.size(3)),
      as_int(out[2]),        as_int(out[3]),        as_int(weight.size(2)), as_int(weight.size(3)),
      as_int(p.stride[0]),   as_int(p.stride[1]),   as_int(p.padding[0]),  as_int(p.padding[1]),
      as_int(p.dilation[0]), as_int(p.dilation[1]), channels_last};
}

// Measured on the H200 (README, per-layer table): our depthwise kernel beats
// cuDNN + epilogue at batch 1 in every layout and dtype, and at batch 64 in
// fp32, but at batch 64 in fp16 channels_last it ran at 0.36-0.71x of cuDNN.
// Batch-1 MobileNetV3 layers have at most 0.23M outputs, batch-64 ones 3M+.
constexpr int64_t kDepthwise16BitChannelsLastMaxOutputs = int64_t(1) << 20;

bool depthwise_kernel_is_faster(const at::Tensor& input, const std::vector<int64_t>& out_size, bool channels_last) {
  const bool is_16_bit = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16;
  if (!is_16_bit || !channels_last) return true;
  return c10::multiply_integers(out_size) <= kDepthwise16BitChannelsLastMaxOutputs;
}

// Runs the depthwise kernel if it covers this call and is the faster choice;
// returns an undefined tensor otherwise.
at::Tensor try_depthwise(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                         EpilogueActivation activation, const std::vector<int64_t>& out_size) {
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  const bool channels_last = format == at::MemoryFormat::ChannelsLast;
  const kernels::DepthwiseShape shape = depthwise_shape(input, weight, params, out_size, channels_last);
  if (!kernels::depthwise_supported(shape) || !depthwise_kernel_is_faster(input, out_size, channels_last)) return {};
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  const EpilogueOperands operands(bias, residual, format);
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_depthwise_conv2d(kernel_element_type(input.scalar_type()), shape, x.const_data_ptr(),
                                                w.const_data_ptr(), out.mutable_data_ptr(), operands.view(activation),
                                                at::cuda::getCurrentCUDAStream()));
  return out;
}

// A 1x1 convolution of a 1x1 map is a matrix product of [batch, in] by
// [out, in]^T, in either memory format (a [N, C, 1, 1] tensor's elements sit
// in the same order in both).
bool is_pointwise_on_single_pixel(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& params) {
  return params.groups == 1 && input.size(2) == 1 && input.size(3) == 1 && weight.size(2) == 1 &&
         weight.size(3) == 1 && params.padding[0] == 0 && params.padding[1] == 0;
}

at::Tensor try_few_rows_matmul(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               const std::optional<at::Tensor>& residual, EpilogueActivation activation,
                               const std::vector<int64_t>& out_size) {
  const kernels::FewRowsMatmulShape shape{as_int(input.size(0)), as_int(input.size(1)), as_int(weight.size(0))};
  if (!kernels::few_rows_matmul_supported(shape) ||
      !kernels::few_rows_matmul_is_faster(shape, static_cast<int>(input.element_size()))) {
    return {};
  }
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  const EpilogueOperands operands(bias, residual, format);
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_few_rows_matmul(kernel_element_type(input.scalar_type()), shape, x.const_data_ptr(),
                                               w.const_data_ptr(), out.mutable_data_ptr(), operands.view(activation),
                                               at::cuda::getCurrentCUDAStream()));
  return out;
}

// cuDNN's fused convolution + bias (+ residual) + relu: one kernel where
// cuDNN's runtime fusion finds an engine (fp16 channels_last), never more
// than conv + epilogue. It takes a bias and fp32 / fp16 only: without a bias
// ATen materializes a zero bias first, and bf16 / fp64 have no fused engine.
// Dense convolutions only (groups == 1): those are what it was measured on
// (README, per-layer table), and torch.jit.optimize_for_inference's use of it
// on depthwise layers made MobileNetV3 at batch 64 in fp16 twice slower in
// GPU time than torch.jit.freeze.
// A residual view off the 16-byte grid goes the other way too: the fused
// engines are picked for aligned operands.
bool cudnn_fused_relu_fits(const at::Tensor& input, const std::optional<at::Tensor>& bias, int64_t groups,
                           const std::optional<at::Tensor>& residual, EpilogueActivation activation) {
  const bool dtype_fits = input.scalar_type() == at::kFloat || input.scalar_type() == at::kHalf;
  const bool residual_aligned =
      !residual.has_value() || reinterpret_cast<uintptr_t>(residual->const_data_ptr()) % 16 == 0;
  return activation == EpilogueActivation::kRelu && groups == 1 && bias.has_value() && dtype_fits &&
         residual_aligned && at::globalContext().userEnabledCuDNN();
}

// A 1x1 convolution with stride 1 and no padding is a matrix product over
// the pixels, which one kernel of ours computes with the epilogue built in.
bool is_pointwise(const at::Tensor& weight, const Conv2dParams& params) {
  return params.groups == 1 && weight.size(2) == 1 && weight.size(3) == 1 && params.stride[0] == 1 &&
         params.stride[1] == 1 && params.padding[0] == 0 && params.padding[1] == 0;
}

// IFX_POINTWISE_KERNEL=always / never overrides the measured choice below
// (auto): to compare the two paths on another GPU, or to rule our kernel out
// while chasing a problem. Read once per process.
enum class PointwisePolicy { kAuto, kAlways, kNever };

PointwisePolicy pointwise_policy() {
  static const PointwisePolicy policy = [] {
    const char* value = std::getenv("IFX_POINTWISE_KERNEL");
    const std::string_view name = value == nullptr ? "auto" : value;
    if (name == "auto" || name.empty()) return PointwisePolicy::kAuto;
    if (name == "always") return PointwisePolicy::kAlways;
    TORCH_CHECK(name == "never", "IFX_POINTWISE_KERNEL must be auto, always or never, not '", name, "'");
    return PointwisePolicy::kNever;
  }();
  return policy;
}

// Measured per layer on the H200, each 1x1 shape of MobileNetV3-large and
// ResNet-50 at batch 1, 8 and 64 forced both ways (IFX_POINTWISE_KERNEL): the
// kernel wins where the cuDNN call is mostly launch and tail, i.e. on few
// pixels in all with a small product.
// - fp16 / bf16 (tensor cores): 1.2-2.1x up to 16M multiply-adds, except
//   against cuDNN's single fused relu kernel, which it never beat. On 1x1
//   maps (squeeze-and-excitation at batch 9 and up) only up to 8M and not on
//   narrowing layers: there it ran at 0.7-0.9x, and expanding ones at 1.1-1.8x.
// - fp32 / fp64 (CUDA cores): 1.1-2.4x up to 32M multiply-adds from 32 input
//   channels on; and 1.5-2.5x on narrowing layers (in >= 4 * out channels,
//   which cuDNN serves slowly) up to 1024 pixels and 64M multiply-adds.
// Past those it ran at 0.04-0.9x.
constexpr int64_t kPointwiseMaxPixels = 4096;
constexpr int64_t kPointwiseTensorCoreMaxWork = int64_t(16) << 20;
constexpr int64_t kPointwiseTensorCoreSinglePixelMaxWork = int64_t(8) << 20;
constexpr int64_t kPointwiseMaxWork = int64_t(32) << 20;
constexpr int64_t kPointwiseMinInChannels = 32;
constexpr int64_t kPointwiseNarrowingMaxPixels = 1024;
constexpr int64_t kPointwiseNarrowingMaxWork = int64_t(64) << 20;

bool pointwise_kernel_is_faster(int64_t pixels, int64_t map_size, int64_t in_channels, int64_t out_channels,
                                at::ScalarType type, bool cudnn_fuses_relu) {
  if (pointwise_policy() != PointwisePolicy::kAuto) return pointwise_policy() == PointwisePolicy::kAlways;
  if (pixels > kPointwiseMaxPixels) return false;
  const int64_t work = pixels * in_channels * out_channels;
  const bool narrowing = in_channels >= 4 * out_channels;
  if (type == at::kHalf || type == at::kBFloat16) {
    if (cudnn_fuses_relu) return false;
    if (map_size == 1) return !narrowing && work <= kPointwiseTensorCoreSinglePixelMaxWork;
    return work <= kPointwiseTensorCoreMaxWork;
  }
  return (narrowing && pixels <= kPointwiseNarrowingMaxPixels && work <= kPointwiseNarrowingMaxWork) ||
         (in_channels >= kPointwiseMinInChannels && work <= kPointwiseMaxWork);
}

at::Tensor try_pointwise(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const std::optional<at::Tensor>& residual, EpilogueActivation activation,
                         const std::vector<int64_t>& out_size, bool cudnn_fuses_relu) {
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  const kernels::PointwiseConvShape shape{as_int(input.size(0)), as_int(input.size(1)), as_int(weight.size(0)),
                                          as_int(input.size(2) * input.size(3)),
                                          format == at::MemoryFormat::ChannelsLast};
  const int64_t pixels = input.size(0) * input.size(2) * input.size(3);
  if (!kernels::pointwise_conv_supported(shape) ||
      !pointwise_kernel_is_faster(pixels, input.size(2) * input.size(3), input.size(1), weight.size(0),
                                  input.scalar_type(), cudnn_fuses_relu)) {
    return {};
  }
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  const EpilogueOperands operands(bias, residual, format);
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_pointwise_conv(kernel_element_type(input.scalar_type()), shape, x.const_data_ptr(),
                                              w.const_data_ptr(), out.mutable_data_ptr(), operands.view(activation),
                                              at::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor cudnn_fused_relu(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                            const Conv2dParams& params, const std::optional<at::Tensor>& residual) {
  const at::MemoryFormat format = conv2d_output_format(input, weight);
  at::Tensor y = residual.has_value()
                     ? at::cudnn_convolution_add_relu(input, weight, *residual, at::Scalar(1), bias, params.stride,
                                                      params.padding, params.dilation, params.groups)
                     : at::cudnn_convolution_relu(input, weight, bias, params.stride, params.padding, params.dilation,
                                                  params.groups);
  return y.contiguous(format);
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
  const EpilogueOperands operands(bias, residual, format);
  const int64_t inner = format == at::MemoryFormat::ChannelsLast ? 1 : y.size(2) * y.size(3);
  check_launch(kernels::launch_epilogue(kernel_element_type(y.scalar_type()), y.mutable_data_ptr(), y.numel(),
                                        y.size(1), inner, operands.view(activation),
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
  if (is_pointwise_on_single_pixel(input, weight, params)) {
    at::Tensor out = try_few_rows_matmul(input, weight, bias, residual, activation, out_size);
    if (out.defined()) return out;
  }
  const bool cudnn_fuses_relu = cudnn_fused_relu_fits(input, bias, groups, residual, activation);
  if (is_pointwise(weight, params)) {
    at::Tensor out = try_pointwise(input, weight, bias, residual, activation, out_size, cudnn_fuses_relu);
    if (out.defined()) return out;
  }
  if (cudnn_fuses_relu) {
    return cudnn_fused_relu(input, weight, bias, params, residual);
  }
  return conv_then_epilogue(input, weight, bias, params, residual, activation);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_cuda); }
