// Contract: replaces every aten::max_pool2d (the schema without indices) by
// ifx::max_pool2d with the same inputs. The two compute the same values in the
// same layout on every device; ifx's runs our NHWC kernel where it covers a
// CUDA call (ATen's channels_last max pool is several times slower than its
// memory traffic needs) and ATen's max pool everywhere else. Returns the
// number of nodes replaced.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

int64_t UseIfxMaxPool(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
