// A squeeze-and-excitation block in two or three kernels: y = x * gate(fc2(
// act1(fc1(mean over pixels of x)))). The unfused form is a reduction, two
// small matrix products and a broadcast multiply, 4-5 kernels that at batch 1
// cost mostly launch latency and gaps; here the squeeze kernel leaves fc1's
// partial products in a workspace, then either the excite kernel finishes fc1,
// computes the gates and scales x, or (SqueezeExciteGates::kGateKernel,
// shapes.h) a gate kernel computes every image's gates once and a streaming
// kernel scales x. Raw pointers and a stream; no torch headers.
#pragma once

#include <cuda_runtime.h>

#include "activations.h"
#include "element_type.h"
#include "shapes.h"

namespace ifx::kernels {

// y = x * gate(w2 . act1(w1 . mean(x) + b1) + b2) per image, on a SqueezeExciteShape (shapes.h): x and y
// [N, C, pixels] or [N, pixels, C] (channels_last), w1 [hidden, C], b1 [hidden] or null, w2 [C, hidden], b2 [C]
// or null, every tensor of type `type` and dense. y may be x itself (in place), but no other overlap.
// `gates`: where the gates are computed (shapes.h). `workspace`: squeeze_excite_workspace_bytes(shape, gates)
// bytes (shapes.h), 8-byte aligned, contents unspecified on entry (nothing needs zeroing, between calls or at
// allocation); the kernels run in order on `stream` and the workspace must not be shared with work running
// concurrently. Accumulates in float (double for fp64), mean = sum / pixels, one rounding at the store. No
// allocation, no synchronization: graph-capture safe.
cudaError_t launch_squeeze_excite(ElementType type, const SqueezeExciteShape& shape, SqueezeExciteGates gates,
                                  const void* x, const void* w1, const void* b1, Activation act1, const void* w2,
                                  const void* b2, Activation gate, void* y, void* workspace, cudaStream_t stream);

// The kernels after the squeeze alone (fc1's partials added up, b1, act1, fc2, gate, y = x * gate) on partials
// another kernel left: `partials` vectors of shape.hidden values per image at `workspace`,
// [image][partial][hidden] in float (double for fp64), e.g. by launch_depthwise_conv2d_squeeze
// (depthwise_conv_kernels.h). `gate_workspace`: squeeze_excite_gate_bytes(shape) bytes, 8-byte aligned, for
// kGateKernel (unused otherwise; may be null). Other arguments as above.
cudaError_t launch_excite(ElementType type, const SqueezeExciteShape& shape, SqueezeExciteGates gates, int partials,
                          const void* workspace, void* gate_workspace, const void* x, const void* b1, Activation act1,
                          const void* w2, const void* b2, Activation gate, void* y, cudaStream_t stream);

}  // namespace ifx::kernels
