#include "fuse_activation_chains.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "refusals.h"

namespace ifx::passes {
namespace {

std::vector<Node*> all_nodes(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<Node*> nodes;
  std::shared_ptr<torch::jit::Graph> graph_copy = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(graph_copy);
  for (Node* node = it.next(); node != nullptr; node = it.next()) nodes.push_back(node);
  return nodes;
}

}  // namespace

int64_t FuseActivationChains(const std::shared_ptr<torch::jit::Graph>& graph, ChainMatcher match,
                             torch::jit::Symbol fused_op, const ChainOptions& options) {
  // Collect first: replacing inserts nodes, which must not be visited.
  std::vector<Node*> candidates;
  for (Node* node : all_nodes(graph)) {
    if (node->outputs().size() == 1 && node->kind() != fused_op) candidates.push_back(node);
  }
  // Replaced chains stay in the graph, dead, until the DCE below, so the
  // pointers in `candidates` stay valid. A dead chain cannot match again: its
  // intermediates had one user each, inside the chain, and its output now
  // has none.
  torch::jit::AliasDb alias_db(graph);
  const auto aten_op = c10::Symbol::aten(fused_op.toUnqualString());
  int64_t replaced = 0;
  for (Node* node : candidates) {
    if (!node->output()->hasUses()) continue;
    Chain chain;
    Value* input = match(node->output(), chain, options);
    if (input == nullptr) {
      if (node->kind() == aten_op && !options.absorb_aten_ops) {
        refuse(node, "kept as aten's op (fuse_aten_activations=False)");
      }
      continue;
    }
    const std::string unsafe = why_unsafe_to_fuse(chain, input, alias_db);
    if (unsafe.empty()) {
      replace_chain(chain, input, fused_op);
      ++replaced;
    } else {
      refuse(node, std::string("computes ") + fused_op.toUnqualString() + ", but " + unsafe);
    }
  }
  if (replaced > 0) torch::jit::EliminateDeadCode(graph);
  for (Node* node : all_nodes(graph)) {
    if (is_chain_clamp(node)) refuse(node, why_clamp_is_unfused(node));
  }
  return replaced;
}

}  // namespace ifx::passes
