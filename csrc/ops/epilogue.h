// What ifx::conv2d_act and ifx::linear_act do after their conv / matmul:
// out = activation(y + residual), with the activations of
// csrc/kernels/activations.h. The ATen composition here is the reference every
// backend matches.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>
#include <string>

#include "kernels/activations.h"

namespace ifx::ops {

using kernels::Activation;

// A name of the activation table; anything else is an error naming `op_name`
// and the accepted names.
Activation parse_activation(c10::string_view name, const char* op_name);

// "none, relu, ...": every name parse_activation takes.
const std::string& activation_names();

// activation(y) by the activation's ATen op, in place on `y` when `in_place`.
at::Tensor apply_activation(at::Tensor y, Activation activation, bool in_place);

// activation(y + residual) with ATen ops, broadcasting and type promotion
// included: the CPU and meta kernels, the CUDA kernels' fallback, and the
// differentiable path. May write into `y`, which must be a fresh tensor.
at::Tensor epilogue_reference(at::Tensor y, const std::optional<at::Tensor>& residual, Activation activation);

// Throws unless `bias` (if given) is 1-D with `features` elements of `dtype`.
void check_bias(const std::optional<at::Tensor>& bias, int64_t features, c10::ScalarType dtype, const char* op_name);

// Throws unless `t` is a strided tensor of a dtype the fused ops take (kernel_dtype.h).
void check_float_tensor(const at::Tensor& t, const char* op_name, const char* argument);

}  // namespace ifx::ops
