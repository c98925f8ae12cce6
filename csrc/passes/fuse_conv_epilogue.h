// Contract: replaces aten::conv2d (+ bias) [+ residual add] [+ activation]
// by one ifx::conv2d_act when the conv has constant weights and int padding,
// each intermediate has no other user, and nothing in between writes to the
// conv's input or the residual. A conv with neither an add nor an activation
// is fused alone when it has a bias ("conv2d+bias"), and left alone without
// one. Returns counts per fused pattern, e.g. "conv2d+add+relu".
// Run after the BN fold.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <string>

namespace ifx::passes {

std::map<std::string, int64_t> FuseConvEpilogue(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
