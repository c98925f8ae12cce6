// CUDA kernel of ifx::conv2d_act: describes the call, asks kernel_choice.h
// which path takes it (the first call of a shape times the candidates; see
// tuned_conv_path), and runs that path.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>

#include "conv2d_act.h"
#include "cudnn_graph_conv_cuda.h"
#include "fused_kernels_cuda.h"
#include "kernel_choice.h"
#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"
#include "kernels/depthwise_conv_kernels.h"
#include "kernels/hopper_gemm.h"
#include "kernels/implicit_gemm_conv.h"
#include "kernels/pointwise_conv_kernels.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act";

int as_int(int64_t v) { return static_cast<int>(v); }

at::Tensor run_depthwise(const ConvCall& c, const at::Tensor& input, const at::Tensor& weight,
                         const EpilogueOperands& operands, Activation activation, const std::vector<int64_t>& out_size,
                         at::MemoryFormat format, kernels::DepthwiseForm form) {
  const kernels::DepthwiseShape shape{
      as_int(c.batch),    as_int(c.in_channels), as_int(c.in_h),     as_int(c.in_w),     as_int(c.out_h),
      as_int(c.out_w),    as_int(c.kernel_h),    as_int(c.kernel_w), as_int(c.stride_h), as_int(c.stride_w),
      as_int(c.pad_h),    as_int(c.pad_w),       as_int(c.dilation_h), as_int(c.dilation_w), c.channels_last};
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_depthwise_conv2d(c.dtype, shape, x.const_data_ptr(), w.const_data_ptr(),
                                                out.mutable_data_ptr(), operands.view(activation),
                                                at::cuda::getCurrentCUDAStream(), form),
               kOp);
  return out;
}

at::Tensor run_pointwise(const ConvCall& c, const at::Tensor& input, const at::Tensor& weight,
                         const EpilogueOperands& operands, Activation activation, const std::vector<int64_t>& out_size,
                         at::MemoryFormat format) {
  const kernels::PointwiseConvShape shape{as_int(c.batch), as_int(c.in_channels), as_int(c.out_channels),
                                          as_int(c.in_h * c.in_w), c.channels_last};
  const at::Tensor x = input.contiguous(format);
  const at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty(out_size, input.options(), format);
  check_launch(kernels::launch_pointwise_conv(c.dtype, shape, x.const_data_ptr(), w.const_data_ptr(),
                                              out.mutable_data_ptr(), operands.view(activation),
                                              at::cuda::getCurrentCUDAStream()),
               kOp);
  return out;
}

// `t` [N, C, H, W] as a channels_last tensor of `padded` channels, the last
// padded - C of them zeros.
at::Tensor pad_channels(const at::Tensor& t, int64_t padded) {
  const bool channels_last = t.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor dense = channels_last ? t : t.contiguous();
  at::Tensor out = at::empty({t.size(0), padded, t.size(2), t.size(3)}, t.options(), at::MemoryFormat::ChannelsLast);
  check_launch(kernels::launch_pad_channels(static_cast<int>(t.element_size()), dense.const_data_ptr(),
                                            out.mutable_data_ptr(), t.size(0), t.size(1), t.size(2) * t.size(3), padded,
                                            !channels_last, at::cuda::getCurrentCUDAStream()),
               kOp);
  return out;
}

at::Tensor run_cudnn_fused_relu(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                                at::MemoryFormat format) {
  at::Tensor y = residual.has_value()
                     ? at::cudnn_convolution_add_relu(input, weight, *residual, at::Scalar(1), bias, params.stride,
                                                      params.padding, params.dilation, params.groups)
                     : at::cudnn_convolution_relu(input, weight, bias, params.stride, params.padding, params.dilation,
                                                  params.groups);
  return y.contiguous(format);
}

// cuDNN without bias, then bias + residual + activation in one pass over
// the output (cuDNN would add the bias in a kernel of its own).
at::Tensor run_cudnn_then_epilogue(const ConvCall& c, const at::Tensor& input, const at::Tensor& weight,
                                   const Conv2dParams& params, const EpilogueOperands& operands, Activation activation,
                                   at::MemoryFormat format) {
  at::Tensor y = at::conv2d(input, weight, std::nullopt, params.stride, params.padding, params.dilation,
                            params.groups)
                     .contiguous(format);
  const int64_t inner = c.channels_last ? 1 : y.size(2) * y.size(3);
  check_launch(kernels::launch_epilogue(c.dtype, y.mutable_data_ptr(), y.numel(), y.size(1), inner,
                                        operands.view(activation), at::cuda::getCurrentCUDAStream()),
               kOp);
  return y;
}

at::Tensor run_implicit_gemm(const ConvCall& c, const MathFlags& flags, kernels::ConvTile tile, const at::Tensor& input,
                             const at::Tensor& weight, const EpilogueOperands& operands, Activation activation,
                             const std::vector<int64_t>& out_size) {
  const kernels::ImplicitGemmConvShape shape{
      as_int(c.batch),    as_int(c.in_h),  as_int(c.in_w),  as_int(c.in_channels),  as_int(c.out_channels),
      as_int(c.out_h),    as_int(c.out_w), as_int(c.kernel_h), as_int(c.kernel_w),  as_int(c.stride_h),
      as_int(c.stride_w), as_int(c.pad_h), as_int(c.pad_w),  as_int(c.dilation_h), as_int(c.dilation_w)};
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor out = at::empty(out_size, input.options(), at::MemoryFormat::ChannelsLast);
  // The weight's memory is KRSC already (ConvCall::weight_channels_last).
  check_launch(kernels::launch_implicit_gemm_conv(c.dtype, implicit_gemm_math(c, flags), tile, shape, x.const_data_ptr(),
                                                  weight.const_data_ptr(), out.mutable_data_ptr(),
                                                  operands.view(activation), at::cuda::getCurrentCUDAStream()),
               kOp);
  return out;
}

// The call's 1x1 stride-1 conv as one product: the NHWC input is [pixels, C]
// and a dense 1x1 weight [K, C], whatever its memory format says.
at::Tensor run_hopper_gemm(const ConvCall& c, const MathFlags& flags, ConvPath path, const at::Tensor& input,
                           const at::Tensor& weight, const EpilogueOperands& operands, Activation activation,
                           const std::vector<int64_t>& out_size) {
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor w = weight.is_contiguous(at::MemoryFormat::ChannelsLast) ? weight : weight.contiguous();
  at::Tensor out = at::empty(out_size, input.options(), at::MemoryFormat::ChannelsLast);
  check_launch(kernels::launch_hopper_gemm(c.dtype, implicit_gemm_math(c, flags), hopper_gemm_tile(path),
                                           hopper_gemm_shape(c), x.const_data_ptr(), w.const_data_ptr(),
                                           out.mutable_data_ptr(), operands.view(activation),
                                           at::cuda::getCurrentCUDAStream()),
               kOp);
  return out;
}

// `path`, unless it is cudnn_graph and this thread has no cuDNN plan for the call (none builds, or
// one would have to be built while a stream captures): then its unfused form, cudnn+epilogue, which
// covers every call cudnn_graph covers.
ConvPath runnable_path(ConvPath path, const ConvCall& call, const at::Tensor& input) {
  if (path != ConvPath::kCudnnGraph) return path;
  return cudnn_graph_conv_available(call, input, !stream_is_capturing()) ? path : ConvPath::kCudnnThenEpilogue;
}

struct Conv2dActCall {
  const at::Tensor& input;
  const at::Tensor& weight;
  const std::optional<at::Tensor>& bias;
  const Conv2dParams& params;
  const std::optional<at::Tensor>& residual;
  Activation activation;
  const std::vector<int64_t>& out_size;
  const ConvCall& call;
  const MathFlags& flags;
  bool tune_padded_conv = false;  // channel_padded times the padded conv's candidates (first call of its shape)

  at::Tensor run(ConvPath path) const {
    const at::MemoryFormat format = conv2d_output_format(input, weight);
    const auto operands = [&] { return EpilogueOperands(bias, residual, format); };
    switch (path) {
      case ConvPath::kAten: return conv2d_act_reference(input, weight, bias, params, residual, activation);
      case ConvPath::kDepthwise:
      case ConvPath::kDepthwiseTwoRows:
      case ConvPath::kDepthwiseSharedTile:
        return run_depthwise(call, input, weight, operands(), activation, out_size, format, depthwise_form(path));
      case ConvPath::kFewRowsMatmul: {
        const at::Tensor x = input.contiguous(format);
        at::Tensor out = at::empty(out_size, input.options(), format);
        run_few_rows_matmul(x, weight, operands(), activation, out, kOp);
        return out;
      }
      case ConvPath::kPointwise: return run_pointwise(call, input, weight, operands(), activation, out_size, format);
      case ConvPath::kCudnnFusedRelu: return run_cudnn_fused_relu(input, weight, bias, params, residual, format);
      case ConvPath::kCudnnThenEpilogue:
        return run_cudnn_then_epilogue(call, input, weight, params, operands(), activation, format);
      case ConvPath::kCudnnGraph: return run_cudnn_graph_conv(call, input, weight, bias, residual, out_size);
      case ConvPath::kImplicitGemm:
      case ConvPath::kImplicitGemmSmall:
        return run_implicit_gemm(call, flags,
                                 path == ConvPath::kImplicitGemm ? kernels::ConvTile::kLarge : kernels::ConvTile::kSmall,
                                 input, weight, operands(), activation, out_size);
      case ConvPath::kHopperGemm64x64:
      case ConvPath::kHopperGemm64x128:
      case ConvPath::kHopperGemm128x256:
        return run_hopper_gemm(call, flags, path, input, weight, operands(), activation, out_size);
      case ConvPath::kChannelPadded: return run_channel_padded();
    }
    TORCH_CHECK(false, kOp, ": no kernel for path ", path_name(path));
  }

  // Input and weight with their channels zero-padded to whole 16-byte
  // vectors (one kernel each), then a path for that conv: the zeros add
  // nothing to any output. Where the op tunes, the padded conv's path is
  // tuned too (nested in the outer timing's first run of this path), since
  // the rules' path for it was cuDNN's slow stem kernel on resnet50 (fp32,
  // batch 64; docs/benchmarks.md, "Seventh GPU session"); else the rules'.
  at::Tensor run_channel_padded() const {
    const int64_t padded = channel_padded_width(call);
    const at::Tensor x = pad_channels(input, padded);
    const at::Tensor w = pad_channels(weight, padded);
    const ConvCall padded_call = describe_conv2d_act(x, w, bias, params, residual, activation, out_size);
    const Conv2dActCall padded_conv{x, w, bias, params, residual, activation, out_size, padded_call, flags};
    std::function<double(ConvPath)> time_us;
    if (tune_padded_conv && !stream_is_capturing()) time_us = [&](ConvPath p) { return padded_conv.time_us(p); };
    const ConvPath inner = runnable_path(tune_padded_conv ? tuned_conv_path(padded_call, flags, time_us)
                                                          : choose_conv_path(padded_call, flags, KernelOverride{}),
                                         padded_call, x);
    TORCH_CHECK(inner != ConvPath::kChannelPadded, kOp, ": padded channels still need padding");
    return padded_conv.run(inner);
  }

  // Unbounded for a path that would run as another (cudnn_graph without a plan), so tuning passes it over.
  double time_us(ConvPath path) const {
    if (runnable_path(path, call, input) != path) return std::numeric_limits<double>::infinity();
    return gpu_time_us([&] { run(path); });
  }
};

// The path a call takes and how to run it: tuned on its key's first call
// where the override allows, else the rules' (or the override's) path.
struct PlannedConv {
  std::vector<int64_t> out_size;
  ConvCall call;
  MathFlags flags;
  ConvPath path = ConvPath::kAten;
  bool tune = false;  // also what Conv2dActCall::tune_padded_conv takes
};

// Whether the call tunes: the kernels take it, and no override or IFX_CONV_TUNING=0 says otherwise.
bool tunes(const ConvCall& call, const KernelOverride& override) {
  return call.kernels_apply && !override.conv.has_value() && override.pointwise == KernelPolicy::kAuto &&
         conv_tuning_enabled();
}

// With `run_block` (ifx::conv2d_act_squeeze_excite), the call feeds a squeeze-and-excitation block
// of `squeeze_hidden` hidden channels: its tuning is its own key's, and times the conv and the
// block together through each candidate path.
PlannedConv plan_conv(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                      const Conv2dParams& params, const std::optional<at::Tensor>& residual, Activation activation,
                      int64_t squeeze_hidden = 0, const std::function<void(ConvPath)>& run_block = {}) {
  PlannedConv p;
  p.out_size = conv2d_output_size(input, weight, params);
  p.call = describe_conv2d_act(input, weight, bias, params, residual, activation, p.out_size);
  p.call.squeeze_hidden = run_block ? squeeze_hidden : 0;
  p.flags = cuda_math_flags(input);
  const KernelOverride override = current_override();
  p.tune = tunes(p.call, override);
  const Conv2dActCall conv{input, weight, bias, params, residual, activation, p.out_size, p.call, p.flags, p.tune};
  std::function<double(ConvPath)> time_us;
  if (!stream_is_capturing()) {
    time_us = [&](ConvPath path) {
      if (!run_block) return conv.time_us(path);
      if (runnable_path(path, p.call, input) != path) return std::numeric_limits<double>::infinity();
      return gpu_time_us([&] { run_block(path); });
    };
  }
  const ConvPath chosen =
      p.tune ? tuned_conv_path(p.call, p.flags, time_us) : choose_conv_path(p.call, p.flags, override);
  p.path = runnable_path(chosen, p.call, input);
  return p;
}

at::Tensor conv2d_act_cuda(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                           const std::optional<at::Tensor>& residual, c10::string_view activation_name) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_args(input, weight, bias, params);
  const Activation activation = parse_activation(activation_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const PlannedConv p = plan_conv(input, weight, bias, params, residual, activation);
  record_path(p.path);
  const Conv2dActCall conv{input, weight, bias, params, residual, activation, p.out_size, p.call, p.flags, p.tune};
  return conv.run(p.path);
}

}  // namespace

ConvPath conv2d_act_cuda_path(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                              const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                              Activation activation, int64_t squeeze_hidden,
                              const std::function<void(ConvPath)>& run_block) {
  const c10::cuda::CUDAGuard device_guard(input.device());
  return plan_conv(input, weight, bias, params, residual, activation, squeeze_hidden, run_block).path;
}

at::Tensor conv2d_act_cuda_through(const at::Tensor& input, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                   const std::optional<at::Tensor>& residual, Activation activation, ConvPath path) {
  const c10::cuda::CUDAGuard device_guard(input.device());
  const std::vector<int64_t> out_size = conv2d_output_size(input, weight, params);
  const ConvCall call = describe_conv2d_act(input, weight, bias, params, residual, activation, out_size);
  const MathFlags flags = cuda_math_flags(input);
  const bool tune = tunes(call, current_override());
  TORCH_CHECK(path == ConvPath::kAten || call.kernels_apply, kOp, ": path ", path_name(path),
              " for a call the kernels do not take");
  record_path(path);
  const Conv2dActCall conv{input, weight, bias, params, residual, activation, out_size, call, flags, tune};
  return conv.run(path);
}
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("conv2d_act", &ifx::ops::conv2d_act_cuda); }
