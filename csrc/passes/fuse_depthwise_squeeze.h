// Contract: replaces ifx::squeeze_excite(ifx::conv2d_act(...), fc...) by one
// ifx::conv2d_act_squeeze_excite(conv..., fc...) where the conv is depthwise
// (a constant weight [C, 1, KH, KW] with groups == C) and its output has no
// user but the block and size reads (aten::size / aten::dim, which then read
// the block's output: the same sizes), so that on CUDA the conv's kernel also leaves the
// block's squeeze and the squeeze kernel with its second read of the conv's
// output goes. The op computes exactly what the two did. Run after
// FuseSqueezeExcitation and UseChannelsLastConvs (the conv's weight is then
// as the op will take it). Returns the number of blocks that took their conv.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

int64_t FuseDepthwiseSqueeze(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
