// A matrix product with the fused epilogue for a few rows: the 1x1
// convolutions of squeeze-and-excitation blocks (1x1 spatial size) and linear
// layers at small batch. cuBLAS / cuDNN plus a separate epilogue take two
// kernels there, and both are latency-bound, not bandwidth-bound.
// Raw pointers and a stream; no torch headers (design.md §4).
#pragma once

#include <cuda_runtime.h>

#include "conv_kernels.h"
#include "element_type.h"

namespace ifx::kernels {

// output[m, n] = epilogue(sum_k input[m, k] * weight[n, k]), every matrix
// dense and row-major; the epilogue's channel is n and its residual is laid
// out like the output.
struct FewRowsMatmulShape {
  int rows, in_features, out_features;
};

// Above this many rows the kernel's work per weight row grows past what one
// warp does well; callers use cuBLAS / cuDNN there.
constexpr int kFewRowsMax = 8;

// True when the kernel handles `shape`: 1..kFewRowsMax rows, positive sizes,
// every index in 32 bits.
bool few_rows_matmul_supported(const FewRowsMatmulShape& shape);

// Accumulates in float (double for fp64), one rounding at the store.
cudaError_t launch_few_rows_matmul(ElementType type, const FewRowsMatmulShape& shape, const void* input,
                                   const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
