// Device helpers shared by the kernels: the compute type of each element type,
// and conversions in and out of it.
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

}  // namespace ifx::kernels
