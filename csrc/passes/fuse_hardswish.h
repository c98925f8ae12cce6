// Contract: replaces each hardswish chain (x * clamp(x + 3, 0, 6) / 6 in the
// spellings of docs/fusion.md, x * hardsigmoid(x), and aten::hardswish when
// options say so) by one ifx::hardswish node, when is_safe_to_fuse holds.
// Returns how many chains it replaced; run functionalize_activation_chains first.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include "activation_patterns.h"

namespace ifx::passes {

int64_t FuseHardswish(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options = {});

}  // namespace ifx::passes
