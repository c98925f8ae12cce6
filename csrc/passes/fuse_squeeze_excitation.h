// Contract: replaces a squeeze-and-excitation block, x * gate(fc2(act1(fc1(
// pool(x))))), by one ifx::squeeze_excite when pool is a global average pool
// of x (adaptive_avg_pool2d to 1x1, or mean over H and W with keepdim), fc1 /
// fc2 are the fused 1x1 convs (ifx::conv2d_act, no padding, groups or
// residual) or fused linears between 2-D and [N, C, 1, 1] views
// (ifx::linear_act), the gate is sigmoid or hardsigmoid, every intermediate
// has no other user and nothing between the pool and the scale writes to x.
// Blocks that miss one of these are refused with the reason. Run after the
// conv and linear fusions. Returns the number of blocks fused.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

int64_t FuseSqueezeExcitation(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
