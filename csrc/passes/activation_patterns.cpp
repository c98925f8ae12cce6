#include "activation_patterns.h"

#include <cmath>
#include <optional>

#include "pattern_utils.h"
#include "refusals.h"

namespace ifx::passes {
namespace {

// 1/6 as written in a model: the double or the float32 nearest to it. Looser
// spellings (0.1666667 is 2e-7 off) would change float64 results, so they are
// near-misses. 2^-24 relative is half a float32 step.
bool is_one_sixth(Value* v) {
  const auto number = constant_scalar(v);
  return number && std::abs(*number * 6.0 - 1.0) <= std::ldexp(1.0, -24);
}

// The node producing v, recorded in the chain.
Node* take(Value* v, Chain& chain) {
  chain.nodes.push_back(v->node());
  return v->node();
}

// The lower bound of a two-step clamp: max(a, 0) spelled as clamp_min,
// clamp(a, 0, None), relu or max/maximum with a 0-dim tensor 0.
Value* match_lower_0(Value* v, Chain& chain) {
  Node* n = v->node();
  if (n->matches("aten::clamp_min(Tensor self, Scalar min) -> Tensor") && is_number(n->input(1), 0)) {
    return take(v, chain)->input(0);
  }
  if (n->matches("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor") &&
      is_number(n->input(1), 0) && is_none(n->input(2))) {
    return take(v, chain)->input(0);
  }
  if (n->matches("aten::relu(Tensor self) -> Tensor")) {
    return take(v, chain)->input(0);
  }
  if (n->matches("aten::max.other(Tensor self, Tensor other) -> Tensor") ||
      n->matches("aten::maximum(Tensor self, Tensor other) -> Tensor")) {
    for (int operand : {0, 1}) {
      if (is_number(n->input(1 - operand), 0)) return take(v, chain)->input(operand);
    }
  }
  return nullptr;
}

// The upper bound of a two-step clamp: min(a, 6) spelled as clamp_max,
// clamp(a, None, 6) or min/minimum with a 0-dim tensor 6.
Value* match_upper_6(Value* v, Chain& chain) {
  Node* n = v->node();
  if (n->matches("aten::clamp_max(Tensor self, Scalar max) -> Tensor") && is_number(n->input(1), 6)) {
    return take(v, chain)->input(0);
  }
  if (n->matches("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor") &&
      is_none(n->input(1)) && is_number(n->input(2), 6)) {
    return take(v, chain)->input(0);
  }
  if (n->matches("aten::min.other(Tensor self, Tensor other) -> Tensor") ||
      n->matches("aten::minimum(Tensor self, Tensor other) -> Tensor")) {
    for (int operand : {0, 1}) {
      if (is_number(n->input(1 - operand), 6)) return take(v, chain)->input(operand);
    }
  }
  return nullptr;
}

// `op(a, constant)` or, where the op commutes, `op(constant, a)`, with
// the constant satisfying `is_wanted`: returns a, else nullptr. Tensor-tensor
// overloads are how tracing spells `x + 3`.
template <typename IsWanted>
Value* non_constant_operand(Node* n, bool commutes, IsWanted is_wanted) {
  if (is_wanted(n->input(1)) && !constant_scalar(n->input(0))) return n->input(0);
  if (commutes && is_wanted(n->input(0)) && !constant_scalar(n->input(1))) return n->input(1);
  return nullptr;
}

// The two operands of a tensor-tensor multiply, or false.
bool match_tensor_mul(Value* v, Value*& lhs, Value*& rhs) {
  Node* n = v->node();
  if (!n->matches("aten::mul.Tensor(Tensor self, Tensor other) -> Tensor")) return false;
  lhs = n->input(0);
  rhs = n->input(1);
  return true;
}

// x * g(x), either operand order, where g is matched by `match_factor`.
template <typename MatchFactor>
Value* match_product_with_input(Value* v, Chain& chain, MatchFactor match_factor) {
  Value *lhs = nullptr, *rhs = nullptr;
  if (!match_tensor_mul(v, lhs, rhs)) return nullptr;
  for (auto [x, factor] : {std::pair{lhs, rhs}, std::pair{rhs, lhs}}) {
    Chain attempt{{v->node()}};
    if (match_factor(factor, attempt) == x) {
      chain.nodes.insert(chain.nodes.end(), attempt.nodes.begin(), attempt.nodes.end());
      return x;
    }
  }
  return nullptr;
}

// clamp(x + 3, 0, 6) -> x
Value* match_shifted_clamp(Value* v, Chain& chain) {
  Value* shifted = match_clamp_0_6(v, chain);
  return shifted ? match_add_three(shifted, chain) : nullptr;
}

}  // namespace

Value* match_add_three(Value* v, Chain& chain) {
  Node* n = v->node();
  const auto is_three = [](Value* c) { return is_number(c, 3); };
  Value* x = nullptr;
  if (n->matches("aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor")) {
    x = non_constant_operand(n, /*commutes=*/false, is_three);
  } else if (n->matches("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")) {
    x = non_constant_operand(n, /*commutes=*/true, is_three);
  }
  if (x == nullptr || !is_number(n->input(2), 1)) return nullptr;
  take(v, chain);
  return x;
}

Value* match_clamp_0_6(Value* v, Chain& chain) {
  Node* n = v->node();
  if (n->matches("aten::relu6(Tensor self) -> Tensor")) {
    return take(v, chain)->input(0);
  }
  if ((n->matches("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor") ||
       n->matches("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor")) &&
      is_number(n->input(1), 0) && is_number(n->input(2), 6)) {
    return take(v, chain)->input(0);
  }
  // Two steps, in either order: min(max(a, 0), 6) or max(min(a, 6), 0).
  Chain attempt;
  if (Value* inner = match_upper_6(v, attempt)) {
    if (Value* a = match_lower_0(inner, attempt)) {
      chain.nodes.insert(chain.nodes.end(), attempt.nodes.begin(), attempt.nodes.end());
      return a;
    }
  }
  attempt.nodes.clear();
  if (Value* inner = match_lower_0(v, attempt)) {
    if (Value* a = match_upper_6(inner, attempt)) {
      chain.nodes.insert(chain.nodes.end(), attempt.nodes.begin(), attempt.nodes.end());
      return a;
    }
  }
  return nullptr;
}

Value* match_scale_sixth(Value* v, Chain& chain) {
  Node* n = v->node();
  const auto is_six = [](Value* c) { return is_number(c, 6); };
  Value* a = nullptr;
  if (n->matches("aten::div.Scalar(Tensor self, Scalar other) -> Tensor") ||
      n->matches("aten::div.Tensor(Tensor self, Tensor other) -> Tensor")) {
    a = non_constant_operand(n, /*commutes=*/false, is_six);
  } else if (n->matches("aten::mul.Scalar(Tensor self, Scalar other) -> Tensor") ||
             n->matches("aten::mul.Tensor(Tensor self, Tensor other) -> Tensor")) {
    a = non_constant_operand(n, /*commutes=*/true, is_one_sixth);
  }
  if (a == nullptr) return nullptr;
  take(v, chain);
  return a;
}

Value* match_hardsigmoid(Value* v, Chain& chain, const ChainOptions& options) {
  Node* n = v->node();
  if (n->kind() == c10::Symbol::fromQualString("ifx::hardsigmoid") ||
      (options.absorb_aten_ops && n->matches("aten::hardsigmoid(Tensor self) -> Tensor"))) {
    return take(v, chain)->input(0);
  }
  // clamp(x + 3, 0, 6) / 6
  Chain attempt;
  if (Value* clamped = match_scale_sixth(v, attempt)) {
    if (Value* x = match_shifted_clamp(clamped, attempt)) {
      chain.nodes.insert(chain.nodes.end(), attempt.nodes.begin(), attempt.nodes.end());
      return x;
    }
  }
  return nullptr;
}

Value* match_hardswish(Value* v, Chain& chain, const ChainOptions& options) {
  Node* n = v->node();
  if (options.absorb_aten_ops && n->matches("aten::hardswish(Tensor self) -> Tensor")) {
    return take(v, chain)->input(0);
  }
  // x * hardsigmoid(x), with the /6 inside the hardsigmoid.
  if (Value* x = match_product_with_input(
          v, chain, [&](Value* f, Chain& c) { return match_hardsigmoid(f, c, options); })) {
    return x;
  }
  // (x * clamp(x + 3, 0, 6)) / 6
  Chain attempt;
  if (Value* product = match_scale_sixth(v, attempt)) {
    if (Value* x = match_product_with_input(product, attempt, match_shifted_clamp)) {
      chain.nodes.insert(chain.nodes.end(), attempt.nodes.begin(), attempt.nodes.end());
      return x;
    }
  }
  // (x / 6) * clamp(x + 3, 0, 6)
  Value *lhs = nullptr, *rhs = nullptr;
  if (match_tensor_mul(v, lhs, rhs)) {
    for (auto [scaled, clamped] : {std::pair{lhs, rhs}, std::pair{rhs, lhs}}) {
      Chain scaled_chain{{n}};
      Value* x = match_scale_sixth(scaled, scaled_chain);
      if (x && match_shifted_clamp(clamped, scaled_chain) == x) {
        chain.nodes.insert(chain.nodes.end(), scaled_chain.nodes.begin(), scaled_chain.nodes.end());
        return x;
      }
    }
  }
  return nullptr;
}

std::string why_unsafe_to_fuse(const Chain& chain, Value* input, torch::jit::AliasDb& alias_db) {
  Node* final_node = chain.nodes.front();
  for (Node* node : chain.nodes) {
    if (node->owningBlock() != final_node->owningBlock()) return "the chain spans blocks";
    if (node != final_node && node->output()->uses().size() != 1) {
      return std::string("an intermediate of the chain (") + node->kind().toQualString() + ") has another user";
    }
  }
  if (!has_supported_type(input)) return "its input is not a tensor of a dtype and device the fused ops take";
  if (alias_db.hasWriters(input)) return "its input is written in place";
  return "";
}

bool is_chain_clamp(Node* n) {
  static const char* const kinds[] = {"aten::hardtanh", "aten::hardtanh_", "aten::clamp",
                                      "aten::clamp_",   "aten::relu6",     "aten::relu6_"};
  const std::string kind = n->kind().toQualString();
  for (const char* k : kinds) {
    if (kind == k) return true;
  }
  return false;
}

std::string why_clamp_is_unfused(Node* clamp) {
  const std::string kind = clamp->kind().toQualString();
  const bool has_bounds = kind.rfind("aten::hardtanh", 0) == 0 || kind.rfind("aten::clamp", 0) == 0;
  if (has_bounds && clamp->inputs().size() >= 3 && !(is_number(clamp->input(1), 0) && is_number(clamp->input(2), 6))) {
    return "bounds (" + describe_number(clamp->input(1)) + ", " + describe_number(clamp->input(2)) +
           ") are not (0, 6): neither relu6 nor part of hardswish/hardsigmoid";
  }
  Node* producer = clamp->input(0)->node();
  if (producer->kind() == c10::aten::add || producer->kind() == c10::aten::add_) {
    Value* shift = constant_scalar(producer->input(0)) ? producer->input(0) : producer->input(1);
    if (constant_scalar(shift) && !is_number(shift, 3)) {
      return "clamps x + " + describe_number(shift) + ": hardswish/hardsigmoid need x + 3";
    }
  }
  return "not part of a complete hardswish/hardsigmoid chain and not after a conv or linear it could join";
}

void replace_chain(const Chain& chain, Value* input, torch::jit::Symbol op) {
  Node* final_node = chain.nodes.front();
  torch::jit::Graph* graph = final_node->owningGraph();
  torch::jit::WithInsertPoint insert_point(final_node);
  Value* fused = graph->insert(op, {input});
  fused->setType(final_node->output()->type());
  final_node->output()->replaceAllUsesWith(fused);
}

}  // namespace ifx::passes
