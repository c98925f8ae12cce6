// The loop shared by the activation fusion passes: match a chain ending at
// every node of the graph (nested blocks included) and replace the safe ones.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include "activation_patterns.h"

namespace ifx::passes {

using ChainMatcher = Value* (*)(Value*, Chain&, const ChainOptions&);

int64_t FuseActivationChains(const std::shared_ptr<torch::jit::Graph>& graph, ChainMatcher match,
                             torch::jit::Symbol fused_op, const ChainOptions& options);

}  // namespace ifx::passes
