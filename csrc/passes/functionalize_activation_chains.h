// Contract: rewrites in-place ops that can be part of an activation chain
// (add_, clamp_, relu6_, hardtanh_, mul_, div_, hardswish_, ...) into their
// functional forms, only where alias analysis proves nobody observes the
// mutation. Returns whether the graph changed. Mutations it cannot remove stay,
// and the fusion passes, which match functional ops only, leave them alone.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

bool FunctionalizeActivationChains(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
