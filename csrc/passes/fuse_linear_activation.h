// Contract: replaces aten::linear (+ bias) followed by an activation (the
// names of epilogue_patterns.h) by one ifx::linear_act, when the weight is a
// constant, the linear's output has no other user and nothing in between
// writes to the input. Returns counts per fused pattern, e.g. "linear+relu".
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <string>

namespace ifx::passes {

std::map<std::string, int64_t> FuseLinearActivation(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
