#include "max_pool_kernels.h"

#include <cstdint>

#include "element_dispatch.cuh"
#include "element_math.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

constexpr int kThreads = 256;

// The running maximum of one lane: larger values replace it, and a NaN
// replaces it and stays (no comparison with NaN is true).
template <typename C> __device__ __forceinline__ C max_keeping_nan(C best, C v) {
  return (v > best || v != v) ? v : best;
}

// One thread per (output pixel, vector of kVec channels); channels fastest, so
// a warp reads consecutive vectors of each tap's pixel.
template <typename T, bool kVector>
__global__ void __launch_bounds__(kThreads)
    max_pool_nhwc_kernel(const T* __restrict__ x, MaxPoolShape s, T* __restrict__ y) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  wait_for_previous_kernel();
  const int vectors = s.channels / kVec;
  const int total = s.batch * s.out_h * s.out_w * vectors;
  // One thread per output vector: the grid covers them all (no grid-stride step, which could pass
  // 2^31 on the largest outputs max_pool_supported takes).
  const int64_t thread = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (thread >= total) return;
  const int i = static_cast<int>(thread);
  const int vector = i % vectors;
  int rest = i / vectors;
  const int ow = rest % s.out_w;
  rest /= s.out_w;
  const int oh = rest % s.out_h;
  const int n = rest / s.out_h;
  C best[kVec];
#pragma unroll
  for (int k = 0; k < kVec; ++k) best[k] = -C(INFINITY);
  const int h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
  for (int kh = 0; kh < s.kernel_h; ++kh) {
    const int ih = h0 + kh * s.dilation_h;
    if (ih < 0 || ih >= s.in_h) continue;
    const T* row = x + ((n * s.in_h + ih) * s.in_w) * s.channels + vector * kVec;
    for (int kw = 0; kw < s.kernel_w; ++kw) {
      const int iw = w0 + kw * s.dilation_w;
      if (iw < 0 || iw >= s.in_w) continue;
      if constexpr (kVector) {
        const Pack<T> v = *reinterpret_cast<const Pack<T>*>(row + iw * s.channels);
#pragma unroll
        for (int k = 0; k < kVec; ++k) best[k] = max_keeping_nan(best[k], load_as_compute(v.v[k]));
      } else {
        best[0] = max_keeping_nan(best[0], load_as_compute(row[iw * s.channels]));
      }
    }
  }
  T* out = y + i * kVec;  // the output is dense: pixel-major, then channel vectors
  if constexpr (kVector) {
    Pack<T> v;
#pragma unroll
    for (int k = 0; k < kVec; ++k) v.v[k] = store_from_compute<T>(best[k]);
    *reinterpret_cast<Pack<T>*>(out) = v;
  } else {
    out[0] = store_from_compute<T>(best[0]);
  }
}

template <typename T>
cudaError_t launch_typed(const MaxPoolShape& s, const void* x, void* y, cudaStream_t stream) {
  // 16-byte vectors where every pixel's channels are whole vectors on aligned pointers.
  const bool vector = aligned_16(x) && aligned_16(y) && s.channels % Pack<T>::kSize == 0;
  const int per_thread = vector ? Pack<T>::kSize : 1;
  const int64_t threads = int64_t(s.batch) * s.out_h * s.out_w * (s.channels / per_thread);
  const int blocks = static_cast<int>((threads + kThreads - 1) / kThreads);
  const T* tx = static_cast<const T*>(x);
  T* ty = static_cast<T*>(y);
  return vector ? launch(max_pool_nhwc_kernel<T, true>, blocks, kThreads, 0, stream, tx, s, ty)
                : launch(max_pool_nhwc_kernel<T, false>, blocks, kThreads, 0, stream, tx, s, ty);
}

}  // namespace

cudaError_t launch_max_pool_nhwc(ElementType type, const MaxPoolShape& shape, const void* x, void* y,
                                 cudaStream_t stream) {
  if (!max_pool_supported(shape) || x == nullptr || y == nullptr) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, x, y, stream);
  });
}

}  // namespace ifx::kernels
