#include "matmul_kernels.h"

#include <climits>
#include <cstdint>

#include "element_dispatch.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kUnroll = 4;

// One warp per output feature n: its lanes stride over k, so weight row n (the
// bulk of the bytes) is read once, coalesced, and serves every row m from
// registers. kPacked reads 16-byte packs of k when every row starts aligned.
template <typename T, bool kPacked>
__global__ void few_rows_matmul_kernel(const T* __restrict__ input, const T* __restrict__ weight,
                                       T* __restrict__ output, FewRowsMatmulShape s, TypedEpilogue<T> epilogue) {
  using C = compute_t<T>;
  constexpr int kStep = kPacked ? Pack<T>::kSize : 1;
  wait_for_previous_kernel();
  const int n = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (n >= s.out_features) return;  // the whole warp leaves together
  const T* weight_row = weight + n * s.in_features;

  C sums[kFewRowsMax] = {};
  // kUnroll weight loads are in flight per lane before any is used: with one,
  // a warp waits a full memory round trip per pack, and the big classifier
  // layers (AlexNet, VGG: 100-400 MB of weights) ran well under bandwidth.
  constexpr int kWarpStride = kWarp * kStep;
  for (int k_base = lane * kStep; k_base < s.in_features; k_base += kWarpStride * kUnroll) {
    T w[kUnroll][kStep];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k_base + u * kWarpStride;
      if (k >= s.in_features) break;
      if constexpr (kPacked) {
        *reinterpret_cast<Pack<T>*>(w[u]) = *reinterpret_cast<const Pack<T>*>(weight_row + k);
      } else {
        w[u][0] = weight_row[k];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k_base + u * kWarpStride;
      if (k >= s.in_features) break;
#pragma unroll
      for (int m = 0; m < kFewRowsMax; ++m) {
        if (m >= s.rows) break;
        T x[kStep];
        if constexpr (kPacked) {
          *reinterpret_cast<Pack<T>*>(x) = *reinterpret_cast<const Pack<T>*>(input + m * s.in_features + k);
        } else {
          x[0] = input[m * s.in_features + k];
        }
#pragma unroll
        for (int j = 0; j < kStep; ++j) sums[m] += load_as_compute(w[u][j]) * load_as_compute(x[j]);
      }
    }
  }

#pragma unroll
  for (int m = 0; m < kFewRowsMax; ++m) {
    if (m >= s.rows) break;
    C sum = sums[m];
    for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) {
      const int at = m * s.out_features + n;
      output[at] = epilogue.finish(sum, at, n);
    }
  }
}

template <typename T>
cudaError_t launch_typed(const FewRowsMatmulShape& s, const void* input, const void* weight, void* output,
                         const Epilogue& epilogue, cudaStream_t stream) {
  const T* x = static_cast<const T*>(input);
  const T* w = static_cast<const T*>(weight);
  T* out = static_cast<T*>(output);
  const TypedEpilogue<T> typed(epilogue);
  const int blocks = (s.out_features + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const int threads = kWarpsPerBlock * kWarp;
  // Rows start on 16-byte boundaries when the bases do and a row is a whole
  // number of packs.
  const bool packed = s.in_features % Pack<T>::kSize == 0 && aligned_16(input) && aligned_16(weight);
  if (packed) return launch(few_rows_matmul_kernel<T, true>, blocks, threads, 0, stream, x, w, out, s, typed);
  return launch(few_rows_matmul_kernel<T, false>, blocks, threads, 0, stream, x, w, out, s, typed);
}

}  // namespace

cudaError_t launch_few_rows_matmul(ElementType type, const FewRowsMatmulShape& shape, const void* input,
                                   const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream) {
  if (!few_rows_matmul_supported(shape)) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, input, weight, output, epilogue, stream);
  });
}

}  // namespace ifx::kernels
