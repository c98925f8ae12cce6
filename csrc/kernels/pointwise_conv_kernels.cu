#include "pointwise_conv_kernels.h"

#include <climits>
#include <cstdint>
#include <type_traits>

#include <mma.h>

#include "element_dispatch.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

constexpr int kWarp = 32;
constexpr int kTile = kPointwiseTile;
constexpr int kChunk = 16;  // input channels a warp takes per step
constexpr int kLoadsPerLane = kTile * kChunk / kWarp;

// Small maps give few output tiles, so the blocks would be too few to fill
// the GPU if each walked all input channels: instead the warps of a block
// split the input channels between them (step s goes to warp s % warps) and
// add their partial tiles up in shared memory at the end.
template <typename T> __host__ __device__ constexpr int max_warps() { return std::is_same_v<T, double> ? 8 : 16; }

// fp16 / bf16 steps are one 16x16x16 tensor-core product (float accumulate)
// where the GPU has bf16 tensor cores (sm_80 on); fp32 / fp64 steps, and
// everything on older GPUs, are CUDA-core FMAs in the compute type, so fp32
// never turns into TF32.
template <typename T> __device__ constexpr bool uses_tensor_cores() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
#else
  return false;
#endif
}

// One warp's operands for one step: raw 16-bit values for the tensor cores
// (rows 16 + 8 wide, as wmma wants multiples of 16 bytes, and 32-byte aligned
// bases), the compute type otherwise (rows 16 + 1 wide, which keeps lanes that
// store along k off each other's banks).
template <typename T, bool kTensorCores> struct WarpTiles;
template <typename T> struct alignas(32) WarpTiles<T, true> {
  using Stored = T;
  static constexpr int kRow = kTile + 8;
  T input[kChunk][kRow];   // [k][pixel]
  T weight[kChunk][kRow];  // [k][output channel]
};
template <typename T> struct alignas(32) WarpTiles<T, false> {
  using Stored = compute_t<T>;
  static constexpr int kRow = kTile + 1;
  Stored input[kChunk][kRow];
  Stored weight[kChunk][kRow];
};

// Where output (pixel, channel) lives: pixel counts over batch * pixels.
template <bool kChannelsLast>
__device__ __forceinline__ int output_index(const PointwiseConvShape& s, int pixel, int channel) {
  if constexpr (kChannelsLast) return pixel * s.out_channels + channel;
  return (pixel / s.pixels * s.out_channels + channel) * s.pixels + pixel % s.pixels;
}

// Lane's share of step `chunk`'s operands into registers, zero outside the
// matrices. Consecutive lanes read consecutive addresses: along pixels for
// NCHW input, along k for channels_last input and for the weight.
template <typename T, bool kChannelsLast>
__device__ __forceinline__ void load_step(const T* __restrict__ input, const T* __restrict__ weight,
                                          const PointwiseConvShape& s, int pixel0, int channel0, int chunk,
                                          T (&x)[kLoadsPerLane], T (&w)[kLoadsPerLane]) {
  const T zero = store_from_compute<T>(compute_t<T>(0));
  const int lane = threadIdx.x % kWarp;
  const int k0 = chunk * kChunk;
  const int total_pixels = s.batch * s.pixels;
#pragma unroll
  for (int i = 0; i < kLoadsPerLane; ++i) {
    const int e = i * kWarp + lane;
    {
      const int channel = channel0 + e / kChunk, k = k0 + e % kChunk;
      w[i] = channel < s.out_channels && k < s.in_channels ? weight[channel * s.in_channels + k] : zero;
    }
    if constexpr (kChannelsLast) {
      const int pixel = pixel0 + e / kChunk, k = k0 + e % kChunk;
      x[i] = pixel < total_pixels && k < s.in_channels ? input[pixel * s.in_channels + k] : zero;
    } else {
      const int pixel = pixel0 + e % kTile, k = k0 + e / kTile;
      x[i] = pixel < total_pixels && k < s.in_channels
                 ? input[(pixel / s.pixels * s.in_channels + k) * s.pixels + pixel % s.pixels]
                 : zero;
    }
  }
}

template <typename T, bool kChannelsLast, typename Tiles>
__device__ __forceinline__ void store_step(Tiles& tiles, const T (&x)[kLoadsPerLane], const T (&w)[kLoadsPerLane]) {
  using Stored = typename Tiles::Stored;
  auto stored = [](T v) {
    if constexpr (std::is_same_v<Stored, T>) {
      return v;
    } else {
      return load_as_compute(v);
    }
  };
  const int lane = threadIdx.x % kWarp;
#pragma unroll
  for (int i = 0; i < kLoadsPerLane; ++i) {
    const int e = i * kWarp + lane;
    tiles.weight[e % kChunk][e / kChunk] = stored(w[i]);
    if constexpr (kChannelsLast) {
      tiles.input[e % kChunk][e / kChunk] = stored(x[i]);
    } else {
      tiles.input[e / kTile][e % kTile] = stored(x[i]);
    }
  }
}

// Index of (channel, pixel) in a 16x16 partial tile: [channel][pixel] for
// NCHW and [pixel][channel] for channels_last, so that consecutive threads
// store consecutive outputs.
template <bool kChannelsLast> __device__ __forceinline__ int tile_index(int channel, int pixel) {
  return kChannelsLast ? pixel * kTile + channel : channel * kTile + pixel;
}

// The warp's sums over its steps, left in `partial` (kTile * kTile values
// laid out by tile_index) after a block-wide barrier: `partial` overlays the
// step tiles.
template <typename T, bool kChannelsLast, typename Tiles>
__device__ __forceinline__ void warp_tile_sums(const T* __restrict__ input, const T* __restrict__ weight,
                                               const PointwiseConvShape& s, int pixel0, int channel0, Tiles& tiles,
                                               compute_t<T>* partial) {
  using C = compute_t<T>;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
  const int steps = (s.in_channels + kChunk - 1) / kChunk;
  T x[kLoadsPerLane], w[kLoadsPerLane];
  if (warp < steps) load_step<T, kChannelsLast>(input, weight, s, pixel0, channel0, warp, x, w);

  if constexpr (uses_tensor_cores<T>()) {
    namespace wmma = nvcuda::wmma;
    // A = weight [channel][k], stored k-major (column-major); B = input [k][pixel].
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::col_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> sums;
    wmma::fill_fragment(sums, 0.0f);
    for (int step = warp; step < steps; step += warps) {
      store_step<T, kChannelsLast>(tiles, x, w);
      __syncwarp();
      // The next step's loads are in flight while this one computes.
      if (step + warps < steps) load_step<T, kChannelsLast>(input, weight, s, pixel0, channel0, step + warps, x, w);
      wmma::load_matrix_sync(a, &tiles.weight[0][0], Tiles::kRow);
      wmma::load_matrix_sync(b, &tiles.input[0][0], Tiles::kRow);
      wmma::mma_sync(sums, a, b, sums);
      __syncwarp();
    }
    __syncthreads();  // every warp is done with the step tiles that `partial` overlays
    wmma::store_matrix_sync(partial, sums, kTile, kChannelsLast ? wmma::mem_col_major : wmma::mem_row_major);
  } else {
    // Each lane holds 2 channels by 4 pixels of the tile.
    const int lane_channel = (lane / 4) * 2, lane_pixel = (lane % 4) * 4;
    C sums[2][4] = {};
    for (int step = warp; step < steps; step += warps) {
      store_step<T, kChannelsLast>(tiles, x, w);
      __syncwarp();
      if (step + warps < steps) load_step<T, kChannelsLast>(input, weight, s, pixel0, channel0, step + warps, x, w);
#pragma unroll
      for (int k = 0; k < kChunk; ++k) {
        const C w0 = tiles.weight[k][lane_channel], w1 = tiles.weight[k][lane_channel + 1];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const C v = tiles.input[k][lane_pixel + j];
          sums[0][j] += w0 * v;
          sums[1][j] += w1 * v;
        }
      }
      __syncwarp();
    }
    __syncthreads();
#pragma unroll
    for (int a = 0; a < 2; ++a) {
#pragma unroll
      for (int j = 0; j < 4; ++j) partial[tile_index<kChannelsLast>(lane_channel + a, lane_pixel + j)] = sums[a][j];
    }
  }
}

// Block (x, y) computes output pixels [16x, 16x + 16) by channels [16y, 16y + 16).
template <typename T, bool kChannelsLast>
__global__ void __launch_bounds__(max_warps<T>() * kWarp)
    pointwise_conv_kernel(const T* __restrict__ input, const T* __restrict__ weight, T* __restrict__ output,
                          PointwiseConvShape s, TypedEpilogue<T> epilogue) {
  using C = compute_t<T>;
  using Tiles = WarpTiles<T, uses_tensor_cores<T>()>;
  // The partial tiles (one per warp, in the compute type, which is the
  // tensor cores' float accumulator for 16-bit types) overlay the step tiles
  // once every warp is past its last step.
  static_assert(sizeof(Tiles) >= kTile * kTile * sizeof(C), "a partial tile fits in a warp's step tiles");
  __shared__ Tiles tiles[max_warps<T>()];
  C* partials = reinterpret_cast<C*>(tiles);

  wait_for_previous_kernel();
  const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  const int pixel0 = blockIdx.x * kTile, channel0 = blockIdx.y * kTile;
  warp_tile_sums<T, kChannelsLast>(input, weight, s, pixel0, channel0, tiles[warp], partials + warp * kTile * kTile);
  __syncthreads();

  const int total_pixels = s.batch * s.pixels;
  for (int o = threadIdx.x; o < kTile * kTile; o += blockDim.x) {
    const int channel = channel0 + (kChannelsLast ? o % kTile : o / kTile);
    const int pixel = pixel0 + (kChannelsLast ? o / kTile : o % kTile);
    if (channel >= s.out_channels || pixel >= total_pixels) continue;
    C sum = 0;
    for (int v = 0; v < warps; ++v) sum += partials[v * kTile * kTile + o];
    const int at = output_index<kChannelsLast>(s, pixel, channel);
    output[at] = epilogue.finish(sum, at, channel);
  }
}

template <typename T>
cudaError_t launch_typed(const PointwiseConvShape& s, const void* input, const void* weight, void* output,
                         const Epilogue& epilogue, cudaStream_t stream) {
  const T* x = static_cast<const T*>(input);
  const T* w = static_cast<const T*>(weight);
  T* out = static_cast<T*>(output);
  const TypedEpilogue<T> typed(epilogue);
  const int steps = (s.in_channels + kChunk - 1) / kChunk;
  const int warps = steps < max_warps<T>() ? steps : max_warps<T>();
  const dim3 grid((s.batch * s.pixels + kTile - 1) / kTile, (s.out_channels + kTile - 1) / kTile);
  if (s.channels_last) {
    return launch(pointwise_conv_kernel<T, true>, grid, warps * kWarp, 0, stream, x, w, out, s, typed);
  }
  return launch(pointwise_conv_kernel<T, false>, grid, warps * kWarp, 0, stream, x, w, out, s, typed);
}

}  // namespace

cudaError_t launch_pointwise_conv(ElementType type, const PointwiseConvShape& shape, const void* input,
                                  const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream) {
  if (!pointwise_conv_supported(shape)) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, input, weight, output, epilogue, stream);
  });
}

}  // namespace ifx::kernels
