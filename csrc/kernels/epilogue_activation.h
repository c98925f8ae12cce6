// The activations the fused conv / linear epilogues apply. No CUDA or torch
// headers, so CPU-only builds share the enum with the kernels.
#pragma once

namespace ifx::kernels {

enum class EpilogueActivation { kNone, kRelu, kRelu6, kHardswish, kHardsigmoid, kSilu, kSigmoid };

}  // namespace ifx::kernels
