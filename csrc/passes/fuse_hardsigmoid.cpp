#include "fuse_hardsigmoid.h"

#include "fuse_activation_chains.h"

namespace ifx::passes {

int64_t FuseHardsigmoid(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options) {
  return FuseActivationChains(graph, &match_hardsigmoid, c10::Symbol::fromQualString("ifx::hardsigmoid"),
                              options);
}

}  // namespace ifx::passes
