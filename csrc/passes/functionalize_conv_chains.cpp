#include "functionalize_conv_chains.h"

#include <torch/csrc/jit/passes/remove_mutation.h>

#include <string>
#include <unordered_set>

namespace ifx::passes {
namespace {

// Only in-place ops on layer outputs: those are what a fused conv / linear
// absorbs. Elsewhere the graph keeps its in-place ops and their memory savings.
bool mutates_layer_output(torch::jit::Node* node) {
  static const std::unordered_set<std::string> in_place_kinds = {
      "aten::relu_",        "aten::relu6_",       "aten::hardtanh_", "aten::clamp_",   "aten::clamp_min_",
      "aten::hardswish_",   "aten::hardsigmoid_", "aten::silu_",     "aten::sigmoid_", "aten::add_",
  };
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
