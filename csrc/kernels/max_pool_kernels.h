// 2-D max pooling over channels_last (NHWC) tensors. ATen's NHWC max pool
// kernel took 221 us of resnet50's 2,482 us forward (fp16 channels_last,
// batch 64, H100; docs/benchmarks.md), several times what its memory traffic
// needs. Raw pointers and a stream; no torch headers.
#pragma once

#include <cuda_runtime.h>

#include "element_type.h"
#include "shapes.h"

namespace ifx::kernels {

// y = max over each window of x, on a MaxPoolShape (shapes.h): x and y NHWC-dense, of type `type`. Taps on
// the padding are skipped; a NaN in a window makes its output NaN (aten::max_pool2d's rule). The values are
// copied, not rounded: the result equals ATen's bit for bit. No allocation, no synchronization: graph-capture
// safe.
cudaError_t launch_max_pool_nhwc(ElementType type, const MaxPoolShape& shape, const void* x, void* y,
                                 cudaStream_t stream);

}  // namespace ifx::kernels
