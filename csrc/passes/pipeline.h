// The fixed order in which ifx_torch runs its passes on a frozen graph.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <string>

namespace ifx::passes {

struct PipelineOptions {
  // Also rewrite aten::hardswish / aten::hardsigmoid into ifx's ops (measured
  // no slower on CUDA, the same kernel on CPU), so later fusions see one form.
  bool fuse_aten_activations = true;
  // Fold batch norms into convs and fuse conv2d / linear with what follows
  // them into ifx::conv2d_act / ifx::linear_act.
  bool fuse_layers = true;
};

// Runs every pass in order; returns how many times each pattern was fused,
// keyed by pattern name: "hardswish" and "hardsigmoid" (zero counts included),
// "conv+batch_norm" (folds), and "conv2d+add+relu", "linear+hardswish", ...
// for each layer pattern found.
std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                           const PipelineOptions& options = {});

// Counts the aten:: and ifx:: nodes of a graph by kind, nested blocks included.
std::map<std::string, int64_t> OpHistogram(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
