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
};

// Runs every pass in order; returns how many times each pattern was fused,
// keyed by pattern name ("hardswish", "hardsigmoid"), zero counts included.
std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                           const PipelineOptions& options = {});

// Counts the aten:: and ifx:: nodes of a graph by kind, nested blocks included.
std::map<std::string, int64_t> OpHistogram(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
