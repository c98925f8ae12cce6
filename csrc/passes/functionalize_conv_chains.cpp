#include "functionalize_conv_chains.h"

#include <torch/csrc/jit/passes/remove_mutation.h>

#include <string>
#include <unordered_set>

#include "epilogue_patterns.h"

namespace ifx::passes {
namespace {

// Only in-place ops on layer outputs: those are what a fused conv / linear
// absorbs. Elsewhere the graph keeps its in-place ops and their memory savings.
bool mutates_layer_output(torch::jit::Node* node) {
  static const std::unordered_set<std::string> in_place_kinds = [] {
    const auto& activations = in_place_epilogue_activation_kinds();
    std::unordered_set<std::string> kinds(activations.begin(), activations.end());
    kinds.insert("aten::add_");
    return kinds;
  }();
  static const std::unordered_set<std::string> layer_kinds = {
      "aten::conv2d", "aten::_convolution", "aten::batch_norm", "aten::linear", "aten::add",
  };
  if (in_place_kinds.count(node->kind().toQualString()) == 0 || node->inputs().empty()) return false;
  return layer_kinds.count(node->input(0)->node()->kind().toQualString()) > 0;
}

}  // namespace

bool FunctionalizeConvChains(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::shared_ptr<torch::jit::Graph> g = graph;
  return torch::jit::RemoveTensorMutation(g, mutates_layer_output);
}

}  // namespace ifx::passes
