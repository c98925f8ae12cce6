// Matrix products with bias, residual and activation inside the kernel, as
// CUTLASS 3 Hopper kernels (tensor-memory-access loads and stores, warp-group
// MMAs, the epilogue a CUTLASS epilogue visitor tree). The op runs 1x1
// stride-1 convolutions over NHWC activations through them: there the
// convolution is exactly this product, and cuDNN's GEMM followed by our
// epilogue kernel reads and writes the output twice (docs/notes/hopper_gemm.md).
// Raw pointers and a stream; no torch or CUTLASS headers here.
#pragma once

#include <cuda_runtime.h>

#include "element_type.h"
#include "epilogue_args.h"
#include "shapes.h"

namespace ifx::kernels {

// True when the current device can run launch_hopper_gemm: a compute
// capability 9.0 GPU, and this build holds the kernels' sm_90a code for it.
// The answer is kept per device after the first call.
bool hopper_gemm_available();

// out = activation(a . b^T + bias + residual) on a HopperGemmShape (shapes.h):
// a [rows, depth], b [cols, depth], out and residual [rows, cols], bias
// [cols], all row-major, dense and of `type`; bias and residual optional, the
// activation chosen at run time. The residual must not overlap the output.
//
// Arithmetic: fp16 / bf16 products on tensor cores, fp32 on TF32 tensor cores
// (`math` must be kTf32 for fp32: the tensor cores read the top 19 bits of
// each fp32 operand); fp32 accumulation and epilogue, one rounding at the store.
//
// Returns cudaErrorInvalidValue, launching nothing, unless
// hopper_gemm_supported(type, math, shape) holds, a / b / out are non-null
// and every non-null pointer is 16-byte aligned; cudaErrorNoKernelImageForDevice
// where hopper_gemm_available() is false. Otherwise the launch's status.
//
// No workspace, allocation or synchronization: usable under CUDA graph capture.
cudaError_t launch_hopper_gemm(ElementType type, ConvMath math, HopperGemmTile tile, const HopperGemmShape& shape,
                               const void* a, const void* b, void* out, const Epilogue& epilogue, cudaStream_t stream);

}  // namespace ifx::kernels
