// The activations on the device: one function per entry of activations.h (a
// missing one is a compile error), and activate(), the runtime switch every
// kernel with a fused epilogue calls. Each matches its ATen op up to rounding,
// NaN and infinities included.
#pragma once

#include "activations.h"

namespace ifx::kernels {

namespace activation_math {

// NaN propagates like torch.clamp does.
template <typename C> __device__ __forceinline__ C clamp_0_6(C v) {
  if (v != v) return v;
  return v < C(0) ? C(0) : (v > C(6) ? C(6) : v);
}

template <typename C> __device__ __forceinline__ C None(C x) { return x; }
// NaN propagates like torch.relu does.
template <typename C> __device__ __forceinline__ C Relu(C x) { return x < C(0) ? C(0) : x; }
template <typename C> __device__ __forceinline__ C Relu6(C x) { return clamp_0_6(x); }
// Multiplying by the rounded 1/6 (as ATen's CUDA kernels do) instead of an
// IEEE division: the division's slow path made the kernel slower than aten's.
// Results differ from x * c / 6 by at most one rounding step, and stay exact
// at the kinks: 18 * fl(1/6) and 6 * fl(1/6) round to 3 and 1.
template <typename C> __device__ __forceinline__ C Hardswish(C x) {
  constexpr C one_sixth = C(1) / C(6);
  return x * clamp_0_6(x + C(3)) * one_sixth;
}
template <typename C> __device__ __forceinline__ C Hardsigmoid(C x) {
  constexpr C one_sixth = C(1) / C(6);
  return clamp_0_6(x + C(3)) * one_sixth;
}
// x / (1 + e^-x). In float the division is __fdividef (a reciprocal and a
// multiply, about 2 ulp) instead of IEEE division, whose slow-path call made
// CUTLASS's GEMM epilogues 2-5x slower with silu than with relu (H100,
// docs/notes/hopper_gemm.md, "Measured"). e^-x past 2^126 makes it 0, as the
// exact quotient nearly is; infinities and NaN come out as ATen's.
template <typename C> __device__ __forceinline__ C divide(C x, C y) { return x / y; }
template <> __device__ __forceinline__ float divide(float x, float y) { return __fdividef(x, y); }
template <typename C> __device__ __forceinline__ C Silu(C x) { return divide(x, C(1) + exp(-x)); }
template <typename C> __device__ __forceinline__ C Sigmoid(C x) { return divide(C(1), C(1) + exp(-x)); }
// x * tanh(softplus(x)), as ATen's CUDA kernel computes it.
template <typename C> __device__ __forceinline__ C Mish(C x) { return x * tanh(log1p(exp(x))); }

}  // namespace activation_math

// The activation is a runtime switch: it is uniform across a launch, so the
// branch costs next to nothing, and one kernel per (type, activation) pair
// would multiply the compile time for no measurable gain.
template <typename C> __device__ __forceinline__ C activate(Activation activation, C x) {
  switch (activation) {
#define IFX_ACTIVATION_CASE(name, text, aten_op) \
  case Activation::k##name:                      \
    return activation_math::name(x);
    IFX_ACTIVATIONS(IFX_ACTIVATION_CASE)
#undef IFX_ACTIVATION_CASE
  }
  return x;
}

}  // namespace ifx::kernels
