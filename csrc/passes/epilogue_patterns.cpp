#include "epilogue_patterns.h"

#include "pattern_utils.h"

namespace ifx::passes {

std::optional<std::string> match_epilogue_activation(Node* n) {
  static const auto ifx_hardswish = c10::Symbol::fromQualString("ifx::hardswish");
  static const auto ifx_hardsigmoid = c10::Symbol::fromQualString("ifx::hardsigmoid");
  if (n->matches("aten::relu(Tensor self) -> Tensor")) return "relu";
  if (n->matches("aten::clamp_min(Tensor self, Scalar min) -> Tensor") && is_number(n->input(1), 0)) return "relu";
  if (n->matches("aten::relu6(Tensor self) -> Tensor")) return "relu6";
  if (n->matches("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor") &&
      is_number(n->input(1), 0) && is_number(n->input(2), 6)) {
    return "relu6";
  }
  if (n->matches("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor") &&
      is_number(n->input(1), 0)) {
    if (is_none(n->input(2))) return "relu";
    if (is_number(n->input(2), 6)) return "relu6";
    return std::nullopt;
  }
  if (n->kind() == ifx_hardswish || n->matches("aten::hardswish(Tensor self) -> Tensor")) return "hardswish";
  if (n->kind() == ifx_hardsigmoid || n->matches("aten::hardsigmoid(Tensor self) -> Tensor")) return "hardsigmoid";
  if (n->matches("aten::silu(Tensor self) -> Tensor")) return "silu";
  if (n->matches("aten::sigmoid(Tensor self) -> Tensor")) return "sigmoid";
  return std::nullopt;
}

Value* match_residual_add(Node* n, Value* v) {
  if (!n->matches("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")) return nullptr;
  if (!is_number(n->input(2), 1)) return nullptr;
  if (n->input(0) == v && n->input(1) != v) return n->input(1);
  if (n->input(1) == v && n->input(0) != v) return n->input(0);
  return nullptr;
}

}  // namespace ifx::passes
