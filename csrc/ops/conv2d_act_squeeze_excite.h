// Shared pieces of ifx::conv2d_act_squeeze_excite (schema in
// conv2d_act_squeeze_excite.cpp): a squeeze-and-excitation block applied to
// the output of the conv before it,
//   squeeze_excite(conv2d_act(input, weight, bias, ..., residual, activation), w1, b1, act1, w2, b2, gate)
// so that on CUDA the depthwise conv's kernel can also leave the block's squeeze.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "conv2d_act.h"
#include "squeeze_excite.h"

namespace ifx::ops {

// Both parts' checks (check_conv2d_act_args, then check_squeeze_excite_args on the conv's output size).
void check_conv2d_act_squeeze_excite_args(const at::Tensor& input, const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                          const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                          const at::Tensor& w2, const std::optional<at::Tensor>& b2);

// The op in ATen ops: the conv's composition, then the block's (CPU kernel and differentiable path).
at::Tensor conv2d_act_squeeze_excite_reference(const at::Tensor& input, const at::Tensor& weight,
                                               const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                               const std::optional<at::Tensor>& residual, Activation activation,
                                               const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                               Activation act1, const at::Tensor& w2,
                                               const std::optional<at::Tensor>& b2, Activation gate);

}  // namespace ifx::ops
