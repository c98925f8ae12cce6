// The fused epilogue on the device, shared by every kernel that ends in one:
// out = activation(value + bias[channel] + residual[element]).
#pragma once

#include <cstdint>

#include "activation_math.cuh"
#include "element_math.cuh"
#include "epilogue_args.h"

namespace ifx::kernels {

// Calls body(activate_one), where activate_one is `activation` as a functor
// on compute_t values: a kernel switches on the activation once, around its
// unrolled stores, instead of once per element. Switched per element, each
// unrolled element carried every activation's code (three to six times the
// code of the same kernel without an activation; docs/notes/hopper_gemm.md,
// "Measured"). What made those epilogues slow was silu's division
// (activation_math.cuh), not the switch.
template <typename C, typename Body> __device__ __forceinline__ void with_activation(Activation activation, Body body) {
  switch (activation) {
#define IFX_WITH_ACTIVATION_CASE(name, text, aten_op)                     \
  case Activation::k##name:                                               \
    body([](C x) { return activation_math::name(x); });                   \
    return;
    IFX_ACTIVATIONS(IFX_WITH_ACTIVATION_CASE)
#undef IFX_WITH_ACTIVATION_CASE
  }
}

// 16 bytes per access: a 16-bit output moves 8 elements per load and store
// instead of one, which is what keeps the epilogue pass at memory speed.
template <typename T> struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

inline bool aligned_16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The pointers of an Epilogue, typed.
template <typename T> struct TypedEpilogue {
  const T* __restrict__ bias;
  const T* __restrict__ residual;
  Activation activation;

  explicit TypedEpilogue(const Epilogue& e)
      : bias(static_cast<const T*>(e.bias)), residual(static_cast<const T*>(e.residual)),
        activation(e.activation) {}

  // `residual_value` is the residual's element, already loaded (zero if none):
  // vectorized kernels load it with the output.
  __device__ __forceinline__ T apply(compute_t<T> value, compute_t<T> residual_value, int64_t channel) const {
    if (bias != nullptr) value += load_as_compute(bias[channel]);
    if (residual != nullptr) value += residual_value;
    return store_from_compute<T>(activate(activation, value));
  }

  template <typename Index>
  __device__ __forceinline__ T finish(compute_t<T> value, Index element, Index channel) const {
    const compute_t<T> r = residual != nullptr ? load_as_compute(residual[element]) : compute_t<T>(0);
    return apply(value, r, channel);
  }
};

}  // namespace ifx::kernels
