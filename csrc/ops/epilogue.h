// What ifx::conv2d_act and ifx::linear_act do after their conv / matmul:
// out = activation(y + residual). The activation names here are the ones the
// schemas take; the ATen composition is the reference every backend matches.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>

#include "kernels/epilogue_activation.h"

namespace ifx::ops {

using kernels::EpilogueActivation;

// "none", "relu", "relu6", "hardswish", "hardsigmoid", "silu" or "sigmoid";
// anything else is an error naming `op_name` and the accepted names.
EpilogueActivation parse_activation(c10::string_view name, const char* op_name);

// activation(y + residual) with ATen ops, broadcasting and type promotion
// included: the CPU and meta kernels, the CUDA kernels' fallback, and the
// differentiable path. May write into `y`, which must be a fresh tensor.
at::Tensor epilogue_reference(at::Tensor y, const std::optional<at::Tensor>& residual,
                              EpilogueActivation activation);

// Throws unless `bias` (if given) is 1-D with `features` elements of `dtype`.
void check_bias(const std::optional<at::Tensor>& bias, int64_t features, c10::ScalarType dtype, const char* op_name);

// Throws unless `t` is a strided float32/float16/bfloat16/float64 tensor.
void check_float_tensor(const at::Tensor& t, const char* op_name, const char* argument);

}  // namespace ifx::ops
