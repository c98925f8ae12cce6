#include "pipeline.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "fold_conv_batchnorm.h"
#include "functionalize_activation_chains.h"
#include "functionalize_conv_chains.h"
#include "fuse_conv_epilogue.h"
#include "fuse_hardsigmoid.h"
#include "fuse_hardswish.h"
#include "fuse_linear_activation.h"

namespace ifx::passes {

std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                           const PipelineOptions& options) {
  const ChainOptions chain_options{options.fuse_aten_activations};
  std::map<std::string, int64_t> fused;
  FunctionalizeActivationChains(graph);
  // Hardswish first: it absorbs the hardsigmoid inside x * hardsigmoid(x).
  fused["hardswish"] = FuseHardswish(graph, chain_options);
  fused["hardsigmoid"] = FuseHardsigmoid(graph, chain_options);
  if (options.fuse_layers) {
    // After the activation fusions, so a conv's hardswish is one node to absorb.
    FunctionalizeConvChains(graph);
    if (const int64_t folded = FoldConvBatchNorm(graph)) fused["conv+batch_norm"] = folded;
    fused.merge(FuseConvEpilogue(graph));
    fused.merge(FuseLinearActivation(graph));
  }
  torch::jit::EliminateDeadCode(graph);
  return fused;
}

std::map<std::string, int64_t> OpHistogram(const std::shared_ptr<torch::jit::Graph>& graph) {
  static const auto aten = c10::Symbol::fromQualString("namespaces::aten");
  static const auto ifx = c10::Symbol::fromQualString("namespaces::ifx");
  std::map<std::string, int64_t> histogram;
  std::shared_ptr<torch::jit::Graph> graph_copy = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(graph_copy);
  for (torch::jit::Node* node = it.next(); node != nullptr; node = it.next()) {
    const auto ns = node->kind().ns();
    if (ns == aten || ns == ifx) ++histogram[node->kind().toQualString()];
  }
  return histogram;
}

}  // namespace ifx::passes
