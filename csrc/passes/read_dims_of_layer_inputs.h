// Contract: each aten::dim(y), where y is the output of aten::conv2d or
// aten::linear, reads the layer's input instead. Both layers keep their
// input's number of dimensions (conv2d: 3 unbatched or 4; linear: any), so
// the value is the same. A module's input check that freezing could not fold
// away (BatchNorm's `input.dim() != 4` after a conv, whose input came through
// a list, as in densenet) then no longer counts as a second user of the
// conv's output, which had kept all 58 of densenet121's batch norms after a
// 1x1 conv from folding and their relus from fusing. A read stays where
// something may write to the layer's input (an in-place unsqueeze_ could
// change its dimensions). Returns how many reads it moved.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <memory>

namespace ifx::passes {

int64_t ReadDimsOfLayerInputs(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
