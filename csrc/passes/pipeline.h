// The fixed order in which ifx_torch runs its passes on a frozen graph.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <string>
#include <vector>

#include "ifx_torch/ifx_torch.h"
#include "refusals.h"

namespace ifx::passes {

// The options of ifx_torch::optimize (ifx_torch.h), one struct for C++, the
// Python binding and Python's keywords.
using PipelineOptions = ifx_torch::OptimizeOptions;

// Runs every pass in order; returns how many times each pattern was fused,
// keyed by pattern name: "hardswish" and "hardsigmoid" (zero counts included),
// "conv+batch_norm" (folds), "conv2d+add+relu", "linear+hardswish", ... for
// each layer pattern found, "squeeze_excite" (blocks) and "max_pool2d" (max
// pools moved onto ifx::max_pool2d, which has an NHWC kernel). When `refused` is given, it receives why each
// candidate still in the graph was left alone (refusals.h).
std::map<std::string, int64_t> RunPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                           const PipelineOptions& options = {},
                                           std::vector<Refusal>* refused = nullptr);

// Counts the aten:: and ifx:: nodes of a graph by kind, nested blocks included.
std::map<std::string, int64_t> OpHistogram(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
