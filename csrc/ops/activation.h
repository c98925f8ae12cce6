// Shared pieces of the ifx::hardswish / ifx::hardsigmoid ops (schemas in activation.cpp).
#pragma once

#include <ATen/core/Tensor.h>

namespace ifx::ops {

// Throws a readable error naming `op_name` unless `x` is a strided tensor of
// a dtype the fused ops take (kernel_dtype.h).
void check_activation_input(const at::Tensor& x, const char* op_name);

// The output every backend returns: the input's exact strides when they are
// dense (contiguous, channels_last or any other permutation), contiguous
// otherwise. Backends and the meta kernel must agree on this.
at::Tensor allocate_activation_output(const at::Tensor& x);

}  // namespace ifx::ops
