#include "epilogue_patterns.h"

#include "kernels/activations.h"
#include "pattern_utils.h"

namespace ifx::passes {
namespace {

// The spellings beyond the table's own ops: clamp forms of relu and relu6.
std::optional<std::string> match_clamp_spelling(Node* n) {
  if (n->matches("aten::clamp_min(Tensor self, Scalar min) -> Tensor") && is_number(n->input(1), 0)) return "relu";
  if (n->matches("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor") &&
      is_number(n->input(1), 0) && is_number(n->input(2), 6)) {
    return "relu6";
  }
  if (n->matches("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor") &&
      is_number(n->input(1), 0)) {
    if (is_none(n->input(2))) return "relu";
    if (is_number(n->input(2), 6)) return "relu6";
  }
  return std::nullopt;
}

const char* const kClampKinds[] = {"aten::clamp_min", "aten::hardtanh", "aten::clamp"};

}  // namespace

std::optional<std::string> match_epilogue_activation(Node* n) {
  if (n->inputs().size() == 1 && n->outputs().size() == 1) {
    const std::string kind = n->kind().toQualString();
    for (const auto& info : kernels::kActivations) {
      if (info.aten_op[0] == '\0') continue;
      if (kind == info.aten_op || kind == std::string("ifx::") + info.name) return std::string(info.name);
    }
  }
  return match_clamp_spelling(n);
}

const std::vector<std::string>& in_place_epilogue_activation_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> all;
    for (const auto& info : kernels::kActivations) {
      if (info.aten_op[0] != '\0') all.push_back(std::string(info.aten_op) + "_");
    }
    for (const char* kind : kClampKinds) all.push_back(std::string(kind) + "_");
    return all;
  }();
  return kinds;
}

bool is_activation_with_other_constants(Node* n) {
  const std::string kind = n->kind().toQualString();
  for (const char* clamp : kClampKinds) {
    if (kind == clamp || kind == std::string(clamp) + "_") return !match_clamp_spelling(n).has_value();
  }
  return false;
}

Value* match_residual_add(Node* n, Value* v) {
  if (!n->matches("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")) return nullptr;
  if (!is_number(n->input(2), 1)) return nullptr;
  if (n->input(0) == v && n->input(1) != v) return n->input(1);
  if (n->input(1) == v && n->input(0) != v) return n->input(0);
  return nullptr;
}

bool is_add(Node* n) { return n->kind() == c10::aten::add || n->kind() == c10::aten::add_; }

}  // namespace ifx::passes
