// Shared pieces of ifx::conv2d_act (schema in conv2d_act.cpp):
//   activation(conv2d(input, weight, bias, stride, padding, dilation, groups) + residual)
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "epilogue.h"
#include "kernel_choice.h"

namespace ifx::ops {

struct Conv2dParams {
  c10::IntArrayRef stride, padding, dilation;
  int64_t groups;
};

// Throws a readable error naming ifx::conv2d_act for arguments aten::conv2d
// would reject or the fused kernels do not take (non-float dtypes).
void check_conv2d_act_args(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           const Conv2dParams& params);

// The convolution's output size, batched or not, as aten::conv2d computes it.
std::vector<int64_t> conv2d_output_size(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& params);

// The memory format of the convolution's output: channels_last when the input
// or the weight is channels_last (as ATen's conv backends choose), otherwise
// contiguous. Every backend returns this layout, and the meta kernel says so.
at::MemoryFormat conv2d_output_format(const at::Tensor& input, const at::Tensor& weight);

// The op in ATen ops: the CPU kernel, the CUDA kernel's fallback and the
// differentiable path.
at::Tensor conv2d_act_reference(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                const std::optional<at::Tensor>& residual, Activation activation);

// What choose_conv_path (kernel_choice.h) needs to know of a call whose
// arguments passed check_conv2d_act_args; `out_size` is conv2d_output_size's.
ConvCall describe_conv2d_act(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                             Activation activation, const std::vector<int64_t>& out_size);

// torch's math settings as the kernel choice reads them.
MathFlags current_math_flags();

}  // namespace ifx::ops
