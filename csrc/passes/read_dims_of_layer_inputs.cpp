#include "read_dims_of_layer_inputs.h"

#include <torch/csrc/jit/ir/alias_analysis.h>

#include <vector>

#include "pattern_utils.h"

namespace ifx::passes {

int64_t ReadDimsOfLayerInputs(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<Node*> layer_dims;  // dim reads of a conv2d's or linear's output
  for (Node* dim : nodes_of_kind(graph, c10::aten::dim)) {
    if (!dim->matches("aten::dim(Tensor self) -> int")) continue;
    Node* layer = dim->input(0)->node();
    if (layer->matches("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, "
                       "int[2] padding=0, int[2] dilation=1, int groups=1) -> Tensor") ||
        layer->matches("aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor")) {
      layer_dims.push_back(dim);
    }
  }
  if (layer_dims.empty()) return 0;
  torch::jit::AliasDb alias_db(graph);
  int64_t moved = 0;
  for (Node* dim : layer_dims) {
    Value* layer_input = dim->input(0)->node()->input(0);
    if (alias_db.hasWriters(layer_input)) continue;
    dim->replaceInput(0, layer_input);
    ++moved;
  }
  return moved;
}

}  // namespace ifx::passes
