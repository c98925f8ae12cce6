// Shared pieces of ifx::squeeze_excite (schema in squeeze_excite.cpp), a
// squeeze-and-excitation block:
//   x * gate(linear(act1(linear(mean_hw(x), w1, b1)), w2, b2))[:, :, None, None]
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "epilogue.h"

namespace ifx::ops {

// Throws a readable error naming ifx::squeeze_excite for arguments the
// composition would reject: x 4-D, w1 [hidden, C], w2 [C, hidden], biases of
// their rows, one float dtype.
void check_squeeze_excite_args(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                               const at::Tensor& w2, const std::optional<at::Tensor>& b2);

// The op in ATen ops: the CPU and meta kernels, the CUDA kernel's fallback
// and the differentiable path. The output has x's memory format.
at::Tensor squeeze_excite_reference(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                    Activation act1, const at::Tensor& w2, const std::optional<at::Tensor>& b2,
                                    Activation gate);

}  // namespace ifx::ops
