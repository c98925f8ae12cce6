#include "pipeline.h"

#include <ATen/Context.h>

#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "channels_last_convs.h"
#include "fold_conv_batchnorm.h"
#include "functionalize_activation_chains.h"
#include "functionalize_conv_chains.h"
#include "fuse_conv_epilogue.h"
#include "fuse_depthwise_squeeze.h"
#include "fuse_hardsigmoid.h"
#include "fuse_hardswish.h"
#include "fuse_linear_activation.h"
#include "fuse_squeeze_excitation.h"
#include "read_dims_of_layer_inputs.h"
#include "use_ifx_max_pool.h"

namespace ifx::passes {

std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                           const PipelineOptions& options, std::vector<Refusal>* refused) {
  const ChainOptions chain_options{options.fuse_aten_activations};
  const RecordRefusals recording;
  std::map<std::string, int64_t> fused;
  FunctionalizeActivationChains(graph);
  // Hardswish first: it absorbs the hardsigmoid inside x * hardsigmoid(x).
  fused["hardswish"] = FuseHardswish(graph, chain_options);
  fused["hardsigmoid"] = FuseHardsigmoid(graph, chain_options);
  if (options.fuse_layers) {
    // After the activation fusions, so a conv's hardswish is one node to absorb.
    FunctionalizeConvChains(graph);
    ReadDimsOfLayerInputs(graph);  // a module's dim check is then no second user of a layer's output
    if (const int64_t folded = FoldConvBatchNorm(graph)) fused["conv+batch_norm"] = folded;
    fused.merge(FuseConvEpilogue(graph));
    fused.merge(FuseLinearActivation(graph));
    if (options.fuse_squeeze_excitation) {
      if (const int64_t blocks = FuseSqueezeExcitation(graph)) fused["squeeze_excite"] = blocks;
    }
    UseChannelsLastConvs(graph, options.conv_layout, at::globalContext().allowTF32CuDNN());
    if (const int64_t taken = FuseDepthwiseSqueeze(graph)) fused["squeeze_in_depthwise_conv"] = taken;
    // Last, so that the passes above meet aten::max_pool2d as users wrote it (their refusals name it).
    if (const int64_t pools = UseIfxMaxPool(graph)) fused["max_pool2d"] = pools;
  }
  torch::jit::EliminateDeadCode(graph);
  std::vector<Refusal> reasons = TakeRefusals(graph);  // also clears them from the graph
  if (refused != nullptr) *refused = std::move(reasons);
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
