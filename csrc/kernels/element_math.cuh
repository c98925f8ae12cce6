// Device helpers shared by the kernels: the compute type of each element type,
// conversions in and out of it, and the activation functions of the fused ops.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ifx::kernels {

// Arithmetic happens in float (double for double), so fp16/bf16 round once,
// at the store, instead of after every fused step.
template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };
template <typename T> using compute_t = typename Compute<T>::type;

template <typename T> __device__ __forceinline__ compute_t<T> load_as_compute(T v) {
  return static_cast<compute_t<T>>(v);
}
template <> __device__ __forceinline__ float load_as_compute(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float load_as_compute(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T, typename C> __device__ __forceinline__ T store_from_compute(C v) {
  return static_cast<T>(v);
}
template <> __device__ __forceinline__ __half store_from_compute<__half, float>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 store_from_compute<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}

// NaN propagates like torch.clamp does.
template <typename C> __device__ __forceinline__ C clamp_0_6(C v) {
  if (v != v) return v;
  return v < C(0) ? C(0) : (v > C(6) ? C(6) : v);
}

// Multiplying by the rounded 1/6 (as ATen's CUDA kernels do) instead of an
// IEEE division: the division's slow path made the kernel slower than aten's.
// Results differ from x * c / 6 by at most one rounding step, and stay exact
// at the kinks: 18 * fl(1/6) and 6 * fl(1/6) round to 3 and 1.
template <typename C> __device__ __forceinline__ C hardswish(C x) {
  constexpr C one_sixth = C(1) / C(6);
  return x * clamp_0_6(x + C(3)) * one_sixth;
}
template <typename C> __device__ __forceinline__ C hardsigmoid(C x) {
  constexpr C one_sixth = C(1) / C(6);
  return clamp_0_6(x + C(3)) * one_sixth;
}
// NaN propagates like torch.relu does.
template <typename C> __device__ __forceinline__ C relu(C x) { return x < C(0) ? C(0) : x; }
template <typename C> __device__ __forceinline__ C sigmoid(C x) { return C(1) / (C(1) + exp(-x)); }
template <typename C> __device__ __forceinline__ C silu(C x) { return x / (C(1) + exp(-x)); }

}  // namespace ifx::kernels
