#include "fuse_hardswish.h"

#include "fuse_activation_chains.h"

namespace ifx::passes {

int64_t FuseHardswish(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options) {
  return FuseActivationChains(graph, &match_hardswish, c10::Symbol::fromQualString("ifx::hardswish"), options);
}

}  // namespace ifx::passes
