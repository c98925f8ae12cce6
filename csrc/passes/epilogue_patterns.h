// Matchers for what may follow a convolution or a linear layer and be fused
// into it (design.md §5): an activation, and a residual add. Functional ops
// only: functionalize_conv_chains.cpp first turns the in-place spellings into
// these where that is provably safe.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <string>

namespace ifx::passes {

// If `n` applies one of the fused ops' activations to its first input,
// returns the activation's name as the ops take it:
//   relu        relu, clamp(x, 0) / clamp_min(x, 0)
//   relu6       relu6, hardtanh(x, 0, 6), clamp(x, 0, 6)
//   hardswish   aten::hardswish, ifx::hardswish
//   hardsigmoid aten::hardsigmoid, ifx::hardsigmoid
//   silu, sigmoid
std::optional<std::string> match_epilogue_activation(torch::jit::Node* n);

// If `n` is `a + b` of two tensors with alpha 1 and `v` is one of them,
// returns the other one (the residual); nullptr otherwise.
torch::jit::Value* match_residual_add(torch::jit::Node* n, torch::jit::Value* v);

}  // namespace ifx::passes
