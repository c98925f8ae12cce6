// Matchers for the pieces of hardswish / hardsigmoid chains (docs/fusion.md),
// shared by fuse_hardswish.cpp and fuse_hardsigmoid.cpp. They read functional
// aten ops only: in-place spellings are first made functional by
// functionalize_activation_chains.cpp where that is provably safe.
#pragma once

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

namespace ifx::passes {

using torch::jit::Node;
using torch::jit::Value;

// A chain being matched: the nodes it consists of, the final node first and
// every producer after its consumers.
struct Chain {
  std::vector<Node*> nodes;
};

// What a chain match may absorb besides the spelled-out formula.
struct ChainOptions {
  bool absorb_aten_ops = true;  // treat aten::hardswish / aten::hardsigmoid as chains
};

// Each matcher looks at the node producing `v`; on a match it appends that
// node (and the ones it consumed) to `chain` and returns the chain's input,
// otherwise returns nullptr and may leave partial entries behind (callers
// match into a scratch Chain).
Value* match_add_three(Value* v, Chain& chain);      // v = x + 3
Value* match_clamp_0_6(Value* v, Chain& chain);      // v = clamp(a, 0, 6) in any spelling
Value* match_scale_sixth(Value* v, Chain& chain);    // v = a / 6 or a * (1/6)
Value* match_hardsigmoid(Value* v, Chain& chain, const ChainOptions& options);  // v = hardsigmoid(x)
Value* match_hardswish(Value* v, Chain& chain, const ChainOptions& options);    // v = hardswish(x)

// "" when replacing `chain` (computed from `input`) by one fused node keeps
// the graph's meaning: every intermediate has no user outside the chain, all
// nodes share one block, nothing writes to `input` or its aliases, and its
// dtype/device, where the graph records them, are ones the fused op supports.
// Otherwise the first of those that fails, as a refusal reason.
std::string why_unsafe_to_fuse(const Chain& chain, Value* input, torch::jit::AliasDb& alias_db);

// The clamps a chain is built around: clamp, hardtanh and relu6 (in place or not).
bool is_chain_clamp(Node* n);

// Why a chain clamp is in no fused chain: its bounds are not (0, 6), it clamps
// x + c with c != 3, or the rest of the formula is missing.
std::string why_clamp_is_unfused(Node* clamp);

// Replaces the value computed by `chain` with `op(input)`, inserted before
// the chain's final node. The chain's nodes are left dead for DCE.
void replace_chain(const Chain& chain, Value* input, torch::jit::Symbol op);

}  // namespace ifx::passes
