// What a kernel with a fused epilogue applies after its convolution or matrix
// product: out = activation(value + bias[channel] + residual), each term
// optional. Host-only and torch-free.
#pragma once

#include "activations.h"

namespace ifx::kernels {

struct Epilogue {
  const void* bias = nullptr;      // `channels` elements of the output's type, or null
  const void* residual = nullptr;  // laid out exactly like the output, or null
  Activation activation = Activation::kNone;
};

}  // namespace ifx::kernels
