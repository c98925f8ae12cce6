// The passes as the tests call them: each one, then graph->lint(), so every
// pass test also checks that the pass leaves a well-formed graph.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passes/fold_conv_batchnorm.h"
#include "passes/functionalize_activation_chains.h"
#include "passes/functionalize_conv_chains.h"
#include "passes/fuse_conv_epilogue.h"
#include "passes/fuse_hardsigmoid.h"
#include "passes/fuse_hardswish.h"
#include "passes/fuse_linear_activation.h"
#include "passes/mark_op_library.h"
#include "passes/pipeline.h"
#include "passes/read_dims_of_layer_inputs.h"
#include "passes/use_ifx_max_pool.h"

namespace ifx_test {

using ifx::passes::PipelineOptions;

// The passes' options, as a type of this namespace: a call with one finds the
// linting wrappers below as exact matches, ahead of the passes themselves.
struct ChainOptions : ifx::passes::ChainOptions {};

template <typename Result> Result linted(const std::shared_ptr<torch::jit::Graph>& graph, Result result) {
  graph->lint();
  return result;
}

inline bool FunctionalizeActivationChains(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::FunctionalizeActivationChains(graph));
}
inline bool FunctionalizeConvChains(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::FunctionalizeConvChains(graph));
}
inline int64_t FuseHardswish(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options = {}) {
  return linted(graph, ifx::passes::FuseHardswish(graph, options));
}
inline int64_t FuseHardsigmoid(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options = {}) {
  return linted(graph, ifx::passes::FuseHardsigmoid(graph, options));
}
inline int64_t FoldConvBatchNorm(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::FoldConvBatchNorm(graph));
}
inline std::map<std::string, int64_t> FuseConvEpilogue(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::FuseConvEpilogue(graph));
}
inline std::map<std::string, int64_t> FuseLinearActivation(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::FuseLinearActivation(graph));
}
inline bool MarkOpLibrary(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::MarkOpLibrary(graph));
}
inline int64_t ReadDimsOfLayerInputs(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::ReadDimsOfLayerInputs(graph));
}
inline int64_t UseIfxMaxPool(const std::shared_ptr<torch::jit::Graph>& graph) {
  return linted(graph, ifx::passes::UseIfxMaxPool(graph));
}
inline std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                                  const PipelineOptions& options = {},
                                                  std::vector<ifx::passes::Refusal>* refused = nullptr) {
  return linted(graph, ifx::passes::RunPipeline(graph, options, refused));
}

}  // namespace ifx_test
