#include "fuse_activation_chains.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

namespace ifx::passes {

int64_t FuseActivationChains(const std::shared_ptr<torch::jit::Graph>& graph, ChainMatcher match,
                             torch::jit::Symbol fused_op, const ChainOptions& options) {
  // Collect first: replacing inserts nodes, which must not be visited.
  std::vector<Node*> candidates;
  std::shared_ptr<torch::jit::Graph> graph_copy = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(graph_copy);
  for (Node* node = it.next(); node != nullptr; node = it.next()) {
    if (node->outputs().size() == 1 && node->kind() != fused_op) candidates.push_back(node);
  }
  // Replaced chains stay in the graph, dead, until the DCE below, so the
  // pointers in `candidates` stay valid. A dead chain cannot match again: its
  // intermediates had one user each, inside the chain, and its output now
  // has none.
  torch::jit::AliasDb alias_db(graph);
  int64_t replaced = 0;
  for (Node* node : candidates) {
    if (!node->output()->hasUses()) continue;
    Chain chain;
    Value* input = match(node->output(), chain, options);
    if (input && is_safe_to_fuse(chain, input, alias_db)) {
      replace_chain(chain, input, fused_op);
      ++replaced;
    }
  }
  if (replaced > 0) torch::jit::EliminateDeadCode(graph);
  return replaced;
}

}  // namespace ifx::passes
