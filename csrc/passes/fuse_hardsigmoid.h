// Contract: replaces each hardsigmoid chain (clamp(x + 3, 0, 6) / 6 in the
// spellings of docs/fusion.md, and aten::hardsigmoid when options say so) by one
// ifx::hardsigmoid node, when is_safe_to_fuse holds. Returns how many chains it
// replaced; run after FuseHardswish, which absorbs x * hardsigmoid(x).
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include "activation_patterns.h"

namespace ifx::passes {

int64_t FuseHardsigmoid(const std::shared_ptr<torch::jit::Graph>& graph, const ChainOptions& options = {});

}  // namespace ifx::passes
