// Matchers for what may follow a convolution or a linear layer and be fused
// into it (docs/fusion.md): an activation of csrc/kernels/activations.h, and a
// residual add. Functional ops only: functionalize_conv_chains.cpp first turns
// the in-place spellings into these where that is provably safe.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <string>
#include <vector>

namespace ifx::passes {

// If `n` applies one of the fused ops' activations to its first input,
// returns the activation's name as the ops take it: the table's ATen op
// (aten::relu, aten::hardswish, ...) and ifx's op of the same name, and the
// other spellings of two of them:
//   relu        clamp(x, 0) / clamp_min(x, 0)
//   relu6       hardtanh(x, 0, 6), clamp(x, 0, 6)
std::optional<std::string> match_epilogue_activation(torch::jit::Node* n);

// The node kinds match_epilogue_activation can accept, in their in-place form
// (aten::relu_, aten::hardtanh_, ...): what functionalize_conv_chains rewrites.
const std::vector<std::string>& in_place_epilogue_activation_kinds();

// True when `n` is one of those kinds but with other constants (hardtanh(x, 0, 5),
// clamp(x, 1)): a near-miss worth naming in a refusal.
bool is_activation_with_other_constants(torch::jit::Node* n);

// If `n` is `a + b` of two tensors with alpha 1 and `v` is one of them,
// returns the other one (the residual); nullptr otherwise.
torch::jit::Value* match_residual_add(torch::jit::Node* n, torch::jit::Value* v);

// True when `n` is an aten::add / add_ of any form.
bool is_add(torch::jit::Node* n);

}  // namespace ifx::passes
