// Contract: folds an inference batch_norm (constant statistics and affine
// parameters or none, training=False, any eps) into the aten::conv2d feeding
// it when the conv has constant weights and no other user; traced
// aten::_convolution nodes are first rewritten as conv2d. Returns the number
// of batch norms folded. torch.jit.freeze folds the scripted cases itself.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

int64_t FoldConvBatchNorm(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
