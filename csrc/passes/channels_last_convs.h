// Contract: stores the constant weight of each ifx::conv2d_act /
// aten::conv2d channels_last where the kernels run NHWC natively (on CUDA
// 16-bit weights, and fp32 ones while cuDNN may use TF32; on the CPU the
// fp32 weights of ifx::conv2d_act while torch's oneDNN convs are available
// and enabled, so a model with nothing fused stays as it is), so the
// convs run without NCHW <-> NHWC transposes: the first conv converts the
// input once, and every conv after it reads and writes channels_last. Each
// tensor the graph returns is wrapped in ifx::like_layout(out, input), so
// outputs keep the memory format eager gives them, and each aten::view
// becomes aten::reshape (the same view where the strides allow it; a copy
// of the same values where an NHWC conv output would make view fail, e.g.
// a flatten of C, H, W). Where a view shares memory that something writes,
// nothing is converted. `layout` kChannelsLast
// converts every float weight on any device (tests), kKeep none. Returns how
// many weights it converted.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include "ifx_torch/ifx_torch.h"

namespace ifx::passes {

int64_t UseChannelsLastConvs(const std::shared_ptr<torch::jit::Graph>& graph,
                             ifx_torch::OptimizeOptions::Layout layout, bool tf32_allowed);

}  // namespace ifx::passes
