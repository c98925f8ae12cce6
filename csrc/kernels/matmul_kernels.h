// A matrix product with the fused epilogue for a few rows: the 1x1
// convolutions of squeeze-and-excitation blocks (1x1 spatial size) and linear
// layers at small batch. cuBLAS / cuDNN plus a separate epilogue take two
// kernels there, and both are latency-bound, not bandwidth-bound.
// Raw pointers and a stream; no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// The product of FewRowsMatmulShape (shapes.h); accumulates in float (double
// for fp64), one rounding at the store.
cudaError_t launch_few_rows_matmul(ElementType type, const FewRowsMatmulShape& shape, const void* input,
                                   const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
