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

// Each warp reads the whole input once per output feature, through L1 / L2:
// measured on the H200 against cuBLAS + the activation kernel, the kernel is
// faster (up to 3x for fp16 classifiers at batch 1) while the input is at
// most 8 KB, e.g. one row of 2048 fp32 / 4096 fp16 features or 8 rows of
// 256 fp32, and up to 5x slower past it (8 rows of a 9216-wide AlexNet layer).
constexpr int kFewRowsMaxInputBytes = 8192;

inline bool few_rows_matmul_is_faster(const FewRowsMatmulShape& shape, int element_size) {
  return static_cast<long long>(shape.rows) * shape.in_features * element_size <= kFewRowsMaxInputBytes;
}

// True when the kernel handles `shape`: 1..kFewRowsMax rows, positive sizes,
// every index in 32 bits.
bool few_rows_matmul_supported(const FewRowsMatmulShape& shape);

// Accumulates in float (double for fp64), one rounding at the store.
cudaError_t launch_few_rows_matmul(ElementType type, const FewRowsMatmulShape& shape, const void* input,
                                   const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
