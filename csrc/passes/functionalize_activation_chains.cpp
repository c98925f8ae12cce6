#include "functionalize_activation_chains.h"

#include <torch/csrc/jit/passes/remove_mutation.h>

#include <unordered_set>

namespace ifx::passes {
namespace {

// Only the in-place ops a chain can contain, so the rest of the graph keeps
// its in-place ops (and their memory savings). relu_ is left out on purpose:
// it is everywhere in CNNs and no listed spelling needs it.
bool may_be_in_activation_chain(torch::jit::Node* node) {
  static const std::unordered_set<std::string> kinds = {
      "aten::add_",       "aten::clamp_",    "aten::clamp_min_", "aten::clamp_max_",
      "aten::hardtanh_",  "aten::relu6_",    "aten::mul_",
      "aten::div_",       "aten::hardswish_", "aten::hardsigmoid_",
  };
  return kinds.count(node->kind().toQualString()) > 0;
}

}  // namespace

bool FunctionalizeActivationChains(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::shared_ptr<torch::jit::Graph> g = graph;
  return torch::jit::RemoveTensorMutation(g, may_be_in_activation_chain);
}

}  // namespace ifx::passes
