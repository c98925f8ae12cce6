// CUDA kernel of ifx::conv2d_act_squeeze_excite. Where the conv's path is our
// NHWC depthwise kernel, that kernel also leaves the block's squeeze and the
// excite kernel (or, at large batch, the gate and scale kernels) finishes the
// block in place: one kernel fewer than ifx::conv2d_act + ifx::squeeze_excite,
// and no second read of the conv's output. Otherwise (choose_depthwise_squeeze_path) the conv, then
// ifx::squeeze_excite. The conv's path is ifx::conv2d_act's (rules, override),
// but tuned with the block: each candidate timed with the block's kernels.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdint>

#include "conv2d_act_squeeze_excite.h"
#include "fused_kernels_cuda.h"
#include "kernel_choice.h"
#include "kernel_dtype.h"
#include "kernels/depthwise_conv_kernels.h"
#include "kernels/squeeze_excite_kernels.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::conv2d_act_squeeze_excite";

using SqueezeExciteOp = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view);

bool aligned_16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.const_data_ptr()) % 16 == 0; }

bool same_place(const at::Tensor& t, const at::Tensor& like) {
  return t.device() == like.device() && t.scalar_type() == like.scalar_type();
}

at::Tensor conv2d_act_squeeze_excite_cuda(const at::Tensor& input, const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                          const std::optional<at::Tensor>& residual, c10::string_view activation_name,
                                          const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                          c10::string_view act1_name, const at::Tensor& w2,
                                          const std::optional<at::Tensor>& b2, c10::string_view gate_name) {
  const Conv2dParams params{stride, padding, dilation, groups};
  check_conv2d_act_squeeze_excite_args(input, weight, bias, params, w1, b1, w2, b2);
  const Activation activation = parse_activation(activation_name, kOp);
  const Activation act1 = parse_activation(act1_name, kOp);
  const Activation gate = parse_activation(gate_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());

  const std::vector<int64_t> out_size = conv2d_output_size(input, weight, params);
  const ConvCall conv = describe_conv2d_act(input, weight, bias, params, residual, activation, out_size);
  const at::Tensor fc1 = w1.contiguous(), fc2 = w2.contiguous();
  SqueezeExciteCall block;
  block.kernels_apply = conv.kernels_apply && same_place(fc1, input) && same_place(fc2, input) &&
                        (!b1 || same_place(*b1, input)) && (!b2 || same_place(*b2, input)) &&
                        out_size[2] * out_size[3] <= INT32_MAX;
  block.dtype = conv.dtype;
  const int hidden = static_cast<int>(fc1.size(0));
  block.shape = {static_cast<int>(out_size[0]), static_cast<int>(out_size[1]), hidden,
                 static_cast<int>(out_size[2] * out_size[3]), conv.channels_last};
  const kernels::DepthwiseShape shape = depthwise_shape(conv);

  // The block with its conv through `conv_path`: the side output where the path is one of our
  // depthwise forms and it can leave the squeeze, else the conv then ifx::squeeze_excite.
  const auto run_block = [&](ConvPath conv_path) -> at::Tensor {
    const SqueezeExcitePath path =
        choose_depthwise_squeeze_path(conv, conv_path, block, aligned_16(fc1), current_override());
    const bool side_output = path == SqueezeExcitePath::kDepthwiseSqueeze ||
                             path == SqueezeExcitePath::kDepthwiseSqueezeGateKernel;
    const kernels::DepthwiseForm form = depthwise_form(conv_path);
    // The kernel reads the operands where conv.operands_aligned says (copies and fresh tensors
    // start aligned). 0 slots also where the partials would pass the excite kernel's int index.
    const int slots = side_output
                          ? kernels::depthwise_squeeze_slots(conv.dtype, shape, form, hidden, conv.operands_aligned,
                                                             aligned_16(fc1))
                          : 0;
    if (slots == 0) {
      static const auto block_op =
          c10::Dispatcher::singleton().findSchemaOrThrow("ifx::squeeze_excite", "").typed<SqueezeExciteOp>();
      const at::Tensor x = conv2d_act_cuda_through(input, weight, bias, params, residual, activation, conv_path);
      return block_op.call(x, w1, b1, act1_name, w2, b2, gate_name);  // records its own path
    }
    record_path(conv_path);
    record_path(path);
    const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor w = weight.contiguous();
    const EpilogueOperands operands(bias, residual, at::MemoryFormat::ChannelsLast);
    at::Tensor out = at::empty(out_size, input.options(), at::MemoryFormat::ChannelsLast);
    TORCH_CHECK(aligned_16(x) && aligned_16(out) && (!operands.residual || aligned_16(*operands.residual)), kOp,
                ": an operand of the depthwise kernel is not on a 16-byte boundary");
    const at::Tensor partials =
        at::empty({static_cast<int64_t>(shape.batch) * slots * hidden}, input.options().dtype(at::kFloat));
    const kernels::SqueezeExciteGates gates = squeeze_excite_gates(path);
    at::Tensor gate_values;  // the gate kernel's output, [image][channel]; allocated only where it runs
    if (gates == kernels::SqueezeExciteGates::kGateKernel) {
      gate_values = at::empty({static_cast<int64_t>(block.shape.batch) * block.shape.channels},
                              input.options().dtype(at::kFloat));
    }
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    const kernels::DepthwiseSqueeze squeeze{fc1.const_data_ptr(), hidden, partials.mutable_data_ptr()};
    check_launch(kernels::launch_depthwise_conv2d_squeeze(conv.dtype, shape, x.const_data_ptr(), w.const_data_ptr(),
                                                          out.mutable_data_ptr(), operands.view(activation), squeeze,
                                                          stream, form),
                 kOp);
    const std::optional<at::Tensor> bias1 = b1 ? std::optional<at::Tensor>(b1->contiguous()) : std::nullopt;
    const std::optional<at::Tensor> bias2 = b2 ? std::optional<at::Tensor>(b2->contiguous()) : std::nullopt;
    check_launch(kernels::launch_excite(conv.dtype, block.shape, gates, slots, partials.const_data_ptr(),
                                        gate_values.defined() ? gate_values.mutable_data_ptr() : nullptr,
                                        out.const_data_ptr(), bias1 ? bias1->const_data_ptr() : nullptr, act1,
                                        fc2.const_data_ptr(), bias2 ? bias2->const_data_ptr() : nullptr, gate,
                                        out.mutable_data_ptr(), stream),
                 kOp);
    return out;
  };
  // Tuned as a block (its own key): the side output saves the squeeze kernel, so our depthwise
  // conv can win here where cuDNN's conv alone is a little faster.
  const ConvPath conv_path = conv2d_act_cuda_path(input, weight, bias, params, residual, activation, hidden,
                                                  [&](ConvPath path) { run_block(path); });
  return run_block(conv_path);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("conv2d_act_squeeze_excite", &ifx::ops::conv2d_act_squeeze_excite_cuda); }
