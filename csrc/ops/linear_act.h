// Shared pieces of ifx::linear_act (schema in linear_act.cpp):
//   activation(linear(input, weight, bias))
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "epilogue.h"
#include "kernel_choice.h"

namespace ifx::ops {

// Throws a readable error naming ifx::linear_act for arguments aten::linear
// would reject or the fused kernels do not take (non-float dtypes).
void check_linear_act_args(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias);

// The op in ATen ops: the CPU and meta kernels, the CUDA kernel's fallback
// and the differentiable path.
at::Tensor linear_act_reference(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, Activation activation);

// What choose_linear_path (kernel_choice.h) needs to know of a call whose
// arguments passed check_linear_act_args.
LinearCall describe_linear_act(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               Activation activation);

}  // namespace ifx::ops
