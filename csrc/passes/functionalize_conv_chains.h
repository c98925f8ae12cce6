// Contract: turns in-place activations and adds applied to the output of a
// conv2d / _convolution / batch_norm / linear / add (relu_, hardtanh_, add_, ...)
// into their functional forms, where alias analysis proves nothing else sees
// the mutation. Returns true if it changed the graph. Run before the BN fold
// and the conv / linear fusions, which match functional ops only.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

bool FunctionalizeConvChains(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
