// The second half of parallel split-K (launch_implicit_gemm_conv_split_k):
// the parts' partial sums added in order, then the fused epilogue. Raw
// pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "epilogue_args.h"

namespace ifx::kernels {

// output[e] = epilogue(partials[0][e] + partials[1][e] + ... + partials[slices - 1][e]) for
// e < elements, in float, the parts added in that order (so the result does not depend on the
// order in which the parts were computed); part s starts at partials + s * elements. The
// epilogue's bias has `channels` floats (the channel of e is e % channels: a row-major
// [rows, channels] output) and its residual is laid out as the output. Returns
// cudaErrorInvalidValue, launching nothing, unless slices >= 1, channels >= 1,
// elements >= 0 and partials and output are non-null; otherwise the launch's status.
cudaError_t launch_split_k_sum(const float* partials, int slices, int64_t elements, int channels, float* output,
                               const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
