// Elementwise activation kernels, callable with raw pointers and a stream.
// No torch headers here, so CI can compile the kernels with nvcc alone.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "activations.h"
#include "element_type.h"

namespace ifx::kernels {

// Applies `activation` (any entry of activations.h) to `numel` densely packed
// elements of `input`, writing them to `output` (a separate buffer of the same
// size). Uses 16-byte vector accesses when both pointers are 16-byte aligned,
// scalar accesses otherwise. Returns the launch status; numel == 0 launches
// nothing.
cudaError_t launch_activation(Activation activation, ElementType type, const void* input, void* output,
                              int64_t numel, cudaStream_t stream);

}  // namespace ifx::kernels
