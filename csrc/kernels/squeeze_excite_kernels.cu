#include "squeeze_excite_kernels.h"

#include <climits>
#include <cstdint>

#include "element_dispatch.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

// Why no counters: pixels split over blocks would usually end in a "last
// block of the group finishes" step with atomic counters, but the workspace
// arrives with unspecified contents every call, and zeroing counters would
// take a third launch (or a grid-wide barrier). fc1 is linear, so none of that
// is needed: every squeeze block multiplies its own partial channel means (its
// pixels' sums / all pixels) by its slice of w1 and writes that partial fc1
// vector to its own slot; the excite kernel adds the slots of an image up in a
// fixed order (deterministic, no atomics) before b1 and act1. The cost is one
// hidden-length vector per (channel chunk, pixel chunk); the plan splits no
// further once that would pass 4096 values per image.
//
// Workspace: partials[image][slot][hidden] in the compute type; slot = channel
// chunk * pixel chunks + pixel chunk. Every slot is written by kernel 1 before
// kernel 2 reads it, so its contents on entry never matter.

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// The block's share of the work: images [n0, n0 + images), channels
// [c0, c0 + channels), pixels [p0, p0 + pixels). The grid is flat, pixel
// chunks fastest, so the blocks of one (image group, channel chunk) run side
// by side.
struct Tile {
  int n0, images, c0, channels, p0, pixels;
  int slot;  // this block's fc1 partial in kernel 1: channel chunk * pixel chunks + pixel chunk
};

__device__ __forceinline__ Tile tile_of(const SqueezeExciteShape& s, int images, int channels, int pixels) {
  const int pixel_chunks = (s.pixels + pixels - 1) / pixels;
  const int channel_chunks = (s.channels + channels - 1) / channels;
  int b = blockIdx.x;
  const int pixel_chunk = b % pixel_chunks;
  b /= pixel_chunks;
  const int channel_chunk = b % channel_chunks;
  const int group = b / channel_chunks;
  Tile t;
  t.n0 = group * images;
  t.images = min(images, s.batch - t.n0);
  t.c0 = channel_chunk * channels;
  t.channels = min(channels, s.channels - t.c0);
  t.p0 = pixel_chunk * pixels;
  t.pixels = min(pixels, s.pixels - t.p0);
  t.slot = channel_chunk * pixel_chunks + pixel_chunk;
  return t;
}

// Lanes that share one row or plane: a power of two, fewer for short ones so
// that lanes do not idle.
__device__ __forceinline__ int lanes_for(int length) {
  return length > 48 ? 32 : length > 24 ? 16 : length > 12 ? 8 : 4;
}

// Sum over aligned groups of `lanes` lanes (a power of two); every lane of
// the warp must call it.
template <typename C> __device__ __forceinline__ C group_sum(C v, int lanes) {
  for (int offset = lanes / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

template <typename T, bool kVector> __device__ __forceinline__ void load_values(const T* p, compute_t<T>* out) {
  if constexpr (kVector) {
    const Pack<T> v = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
    for (int k = 0; k < Pack<T>::kSize; ++k) out[k] = load_as_compute(v.v[k]);
  } else {
    out[0] = load_as_compute(*p);
  }
}

// ---- kernel 1: channel sums of the block's pixels, then its partial fc1 ----------------------

// NHWC: thread (row, column) of a [rows x columns] layout takes channel
// vector `column` of pixels row, row + rows, ...: a pixel's channels of the
// chunk are contiguous, so each row of threads reads one span. The rows'
// sums meet in shared memory.
template <typename T, bool kVector>
__device__ __forceinline__ void sums_channels_last(const T* __restrict__ x, const SqueezeExciteShape& s,
                                                   const Tile& t, compute_t<T>* reduce, compute_t<T>* means) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  const int columns = t.channels / kVec;  // exact on the vector path: C and chunks are multiples of kVec
  const int rows = kThreads / columns;
  const int row = threadIdx.x / columns, column = threadIdx.x - row * columns;
  if (row < rows) {
    for (int b = 0; b < t.images; ++b) {
      C acc[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc[k] = C(0);
      const T* src = x + ((t.n0 + b) * s.pixels + t.p0) * s.channels + t.c0 + column * kVec;
#pragma unroll 4
      for (int p = row; p < t.pixels; p += rows) {
        C v[kVec];
        load_values<T, kVector>(src + p * s.channels, v);
#pragma unroll
        for (int k = 0; k < kVec; ++k) acc[k] += v[k];
      }
#pragma unroll
      for (int k = 0; k < kVec; ++k) reduce[(row * t.images + b) * t.channels + column * kVec + k] = acc[k];
    }
  }
  __syncthreads();
  const C pixels = C(s.pixels);
  for (int e = threadIdx.x; e < t.images * t.channels; e += kThreads) {
    const int b = e / t.channels, c = e - b * t.channels;
    C sum = 0;
    for (int r = 0; r < rows; ++r) sum += reduce[(r * t.images + b) * t.channels + c];
    means[b * kSqueezeExciteMaxChannels + c] = sum / pixels;
  }
}

// NCHW: each (image, channel) plane's pixels of the block are contiguous; a
// group of lanes sums one plane segment and reduces it with shuffles.
template <typename T, bool kVector>
__device__ __forceinline__ void sums_planar(const T* __restrict__ x, const SqueezeExciteShape& s, const Tile& t,
                                            compute_t<T>* means) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  const int lanes = lanes_for((t.pixels + kVec - 1) / kVec);
  const int sub = threadIdx.x & (lanes - 1), group = threadIdx.x / lanes, groups = kThreads / lanes;
  const int planes = t.images * t.channels;
  // The same trip count for every lane of a warp: the shuffles need all of them.
  for (int base = 0; base < planes; base += groups) {
    const int e = base + group;
    C sum = 0;
    if (e < planes) {
      const int b = e / t.channels, c = e - b * t.channels;
      const T* src = x + ((t.n0 + b) * s.channels + t.c0 + c) * s.pixels + t.p0;
#pragma unroll 4
      for (int i = sub * kVec; i < t.pixels; i += lanes * kVec) {
        C v[kVec];
        load_values<T, kVector>(src + i, v);
#pragma unroll
        for (int k = 0; k < kVec; ++k) sum += v[k];
      }
    }
    sum = group_sum(sum, lanes);
    if (e < planes && sub == 0) {
      const int b = e / t.channels, c = e - b * t.channels;
      means[b * kSqueezeExciteMaxChannels + c] = sum / C(s.pixels);
    }
  }
}

// dot[b][r] = sum over k < length of w[r * stride + k] * v[b * v_stride + k], for rows r < rows and the
// block's images b, handed to store(b, r, dot). Lanes of a group take consecutive k (coalesced rows of w),
// groups take rows; each group works on kRowsAtOnce rows at a time so that that many independent loads are
// in flight per lane (a row at a time left the fc1 and fc2 parts waiting on one L2 round trip per row).
// A weight serves every image of the block.
constexpr int kRowsAtOnce = 4;

// Lanes per row of block_rows_dot: the fewest passes over the rows, each lane's share of a row, and
// the shuffles that add the lanes up, counted per (row, image) a lane holds; at least 8 lanes, so
// that a group reads 16 contiguous bytes of a 16-bit row. One lane count for every shape made fc1's
// 240 short rows (64 channels of a chunk) 8 passes of 2 products and 5 shuffles per value.
__device__ __forceinline__ int dot_lanes(int rows, int length) {
  int best = kWarp, best_cost = INT_MAX;
  for (int lanes = 8, steps = 3; lanes <= kWarp; lanes *= 2, ++steps) {
    const int rows_per_pass = kThreads / lanes * kRowsAtOnce;
    const int passes = (rows + rows_per_pass - 1) / rows_per_pass;
    const int cost = passes * ((length + lanes - 1) / lanes + 2 * steps);
    if (cost < best_cost) {
      best = lanes;
      best_cost = cost;
    }
  }
  return best;
}

template <typename T, typename Store>
__device__ __forceinline__ void block_rows_dot(const T* __restrict__ w, int stride, int rows, int length,
                                               const compute_t<T>* v, int v_stride, int images, Store store) {
  using C = compute_t<T>;
  const int lanes = dot_lanes(rows, length);
  const int lane = threadIdx.x & (kWarp - 1);
  const int sub = lane & (lanes - 1);
  const int group = (threadIdx.x / kWarp) * (kWarp / lanes) + lane / lanes;
  const int groups = kThreads / lanes;
  // The same trip counts for every lane of a warp: the shuffles need all of them.
  for (int base = 0; base < rows; base += groups * kRowsAtOnce) {
    C acc[kRowsAtOnce][kSqueezeExciteMaxImages];
#pragma unroll
    for (int i = 0; i < kRowsAtOnce; ++i) {
#pragma unroll
      for (int b = 0; b < kSqueezeExciteMaxImages; ++b) acc[i][b] = C(0);
    }
#pragma unroll 2
    for (int k = sub; k < length; k += lanes) {
      C wk[kRowsAtOnce];
#pragma unroll
      for (int i = 0; i < kRowsAtOnce; ++i) {
        const int r = base + i * groups + group;
        wk[i] = r < rows ? load_as_compute(w[r * stride + k]) : C(0);
      }
#pragma unroll
      for (int b = 0; b < kSqueezeExciteMaxImages; ++b) {
        if (b >= images) break;
        const C vk = v[b * v_stride + k];
#pragma unroll
        for (int i = 0; i < kRowsAtOnce; ++i) acc[i][b] += wk[i] * vk;
      }
    }
#pragma unroll
    for (int i = 0; i < kRowsAtOnce; ++i) {
      const int r = base + i * groups + group;
#pragma unroll
      for (int b = 0; b < kSqueezeExciteMaxImages; ++b) {
        if (b >= images) break;  // uniform over the block
        const C dot = group_sum(acc[i][b], lanes);
        if (r < rows && sub == 0) store(b, r, dot);
      }
    }
  }
}

template <typename T, bool kChannelsLast, bool kVector>
__global__ void __launch_bounds__(kThreads)
    squeeze_kernel(const T* __restrict__ x, const T* __restrict__ w1, SqueezeExciteShape s, SqueezeExcitePlan plan,
                   compute_t<T>* __restrict__ partials) {
  using C = compute_t<T>;
  __shared__ C means[kSqueezeExciteMaxImages * kSqueezeExciteMaxChannels];
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  wait_for_previous_kernel();
  const Tile t = tile_of(s, plan.images, plan.squeeze_channels, plan.squeeze_pixels);
  if constexpr (kChannelsLast) {
    sums_channels_last<T, kVector>(x, s, t, reinterpret_cast<C*>(shared_bytes), means);
  } else {
    sums_planar<T, kVector>(x, s, t, means);
  }
  __syncthreads();
  // This block's partial fc1 for all hidden units: w1[j][c0 + c] . mean[b][c] over its channels.
  block_rows_dot<T>(w1 + t.c0, s.channels, s.hidden, t.channels, means, kSqueezeExciteMaxChannels, t.images,
                    [&](int b, int j, C dot) { partials[((t.n0 + b) * plan.partials + t.slot) * s.hidden + j] = dot; });
}

// ---- the gates: hidden units, then gate(fc2) per channel ------------------------------------

// The gates of tile t's images and channels: fc1's partials of each image added in slot order, b1
// and act1 (into `hidden`, [images][hidden] in shared memory), then gate(w2[c0 + c] . hidden[b] +
// b2[c0 + c]) for each channel c of the tile, handed to store(b, c, gate). Every thread of the block
// calls it; it ends with the stores, not with a barrier.
template <typename T, typename Store>
__device__ __forceinline__ void tile_gates(const SqueezeExciteShape& s, const Tile& t, int partials_per_image,
                                           const compute_t<T>* __restrict__ partials, const T* __restrict__ b1,
                                           Activation act1, const T* __restrict__ w2, const T* __restrict__ b2,
                                           Activation gate, compute_t<T>* hidden, Store store) {
  using C = compute_t<T>;
  // The partials come in batches of 8 independent loads, added in order.
  for (int e = threadIdx.x; e < t.images * s.hidden; e += kThreads) {
    const int b = e / s.hidden, j = e - b * s.hidden;
    const C* src = partials + (t.n0 + b) * partials_per_image * s.hidden + j;
    C sum = 0;
    for (int q0 = 0; q0 < partials_per_image; q0 += 8) {
      C part[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) part[i] = q0 + i < partials_per_image ? src[(q0 + i) * s.hidden] : C(0);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum += part[i];
    }
    if (b1 != nullptr) sum += load_as_compute(b1[j]);
    hidden[e] = activate(act1, sum);
  }
  __syncthreads();
  block_rows_dot<T>(w2 + t.c0 * s.hidden, s.hidden, t.channels, s.hidden, hidden, s.hidden, t.images,
                    [&](int b, int c, C dot) {
                      if (b2 != nullptr) dot += load_as_compute(b2[t.c0 + c]);
                      store(b, c, activate(gate, dot));
                    });
}

// ---- kernel 2 of two: hidden units, the block's gates, y = x * gate ----------------------------

template <typename T, bool kChannelsLast, bool kVector>
__global__ void __launch_bounds__(kThreads)
    excite_kernel(const T* x, const T* __restrict__ b1, Activation act1, const T* __restrict__ w2,
                  const T* __restrict__ b2, Activation gate, SqueezeExciteShape s, SqueezeExcitePlan plan,
                  const compute_t<T>* __restrict__ partials, T* y) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  wait_for_previous_kernel();
  const Tile t = tile_of(s, plan.images, plan.excite_channels, plan.excite_pixels);
  C* hidden = reinterpret_cast<C*>(shared_bytes);                 // [images][hidden]
  C* gates = hidden + plan.images * s.hidden;                      // [images][kSqueezeExciteMaxChannels]
  tile_gates<T>(s, t, plan.partials, partials, b1, act1, w2, b2, gate, hidden,
                [&](int b, int c, C g) { gates[b * kSqueezeExciteMaxChannels + c] = g; });
  __syncthreads();

  // y = x * gate over the block's tile, laid out as kernel 1 reads it.
  if constexpr (kChannelsLast) {
    const int columns = t.channels / kVec;
    const int rows = kThreads / columns;
    const int row = threadIdx.x / columns, column = threadIdx.x - row * columns;
    if (row >= rows) return;
    for (int b = 0; b < t.images; ++b) {
      C g[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) g[k] = gates[b * kSqueezeExciteMaxChannels + column * kVec + k];
      const int offset = ((t.n0 + b) * s.pixels + t.p0) * s.channels + t.c0 + column * kVec;
#pragma unroll 4
      for (int p = row; p < t.pixels; p += rows) {
        const int at = offset + p * s.channels;
        if constexpr (kVector) {
          const Pack<T> v = *reinterpret_cast<const Pack<T>*>(x + at);
          Pack<T> out;
#pragma unroll
          for (int k = 0; k < kVec; ++k) out.v[k] = store_from_compute<T>(load_as_compute(v.v[k]) * g[k]);
          *reinterpret_cast<Pack<T>*>(y + at) = out;
        } else {
          y[at] = store_from_compute<T>(load_as_compute(x[at]) * g[0]);
        }
      }
    }
  } else {
    const int lanes = lanes_for((t.pixels + kVec - 1) / kVec);
    const int sub = threadIdx.x & (lanes - 1), group = threadIdx.x / lanes, groups = kThreads / lanes;
    for (int e = group; e < t.images * t.channels; e += groups) {
      const int b = e / t.channels, c = e - b * t.channels;
      const C g = gates[b * kSqueezeExciteMaxChannels + c];
      const int offset = ((t.n0 + b) * s.channels + t.c0 + c) * s.pixels + t.p0;
#pragma unroll 4
      for (int i = sub * kVec; i < t.pixels; i += lanes * kVec) {
        if constexpr (kVector) {
          const Pack<T> v = *reinterpret_cast<const Pack<T>*>(x + offset + i);
          Pack<T> out;
#pragma unroll
          for (int k = 0; k < kVec; ++k) out.v[k] = store_from_compute<T>(load_as_compute(v.v[k]) * g);
          *reinterpret_cast<Pack<T>*>(y + offset + i) = out;
        } else {
          y[offset + i] = store_from_compute<T>(load_as_compute(x[offset + i]) * g);
        }
      }
    }
  }
}

// ---- kernels 2 and 3 of three: every image's gates once, then y = x * gate as one stream -------

// Blocks of plan.images images by plan.gate_channels channels; `gates` [image][channel].
template <typename T>
__global__ void __launch_bounds__(kThreads)
    gate_kernel(const T* __restrict__ b1, Activation act1, const T* __restrict__ w2, const T* __restrict__ b2,
                Activation gate, SqueezeExciteShape s, SqueezeExcitePlan plan,
                const compute_t<T>* __restrict__ partials, compute_t<T>* __restrict__ gates) {
  using C = compute_t<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  wait_for_previous_kernel();
  const Tile t = tile_of(s, plan.images, plan.gate_channels, s.pixels);
  tile_gates<T>(s, t, plan.partials, partials, b1, act1, w2, b2, gate, reinterpret_cast<C*>(shared_bytes),
                [&](int b, int c, C g) { gates[(t.n0 + b) * s.channels + t.c0 + c] = g; });
}

// Vectors of x each thread scales, kThreads apart (coalesced), all loaded before any is stored.
constexpr int kScaleVectorsPerThread = 4;

// y = x * gates[image][channel], x taken as a flat run of vectors: a vector's elements share one
// gate per channel (NHWC: consecutive channels of one pixel) or one gate (NCHW: one plane), which
// the vector path's shapes guarantee (launch_typed).
template <typename T, bool kChannelsLast, bool kVector>
__global__ void __launch_bounds__(kThreads)
    scale_kernel(const T* x, SqueezeExciteShape s, const compute_t<T>* __restrict__ gates, T* y) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  wait_for_previous_kernel();
  // Unsigned: the last block's indices may pass INT_MAX by up to a block's work, never 2^32.
  const unsigned vectors = unsigned(s.batch) * unsigned(s.channels) * unsigned(s.pixels) / kVec;
  const unsigned image_elements = unsigned(s.channels) * unsigned(s.pixels);
  const unsigned first = blockIdx.x * (kThreads * kScaleVectorsPerThread) + threadIdx.x;
  C v[kScaleVectorsPerThread][kVec];
#pragma unroll
  for (int u = 0; u < kScaleVectorsPerThread; ++u) {
    const unsigned i = first + u * kThreads;
    if (i < vectors) load_values<T, kVector>(x + size_t(i) * kVec, v[u]);
  }
#pragma unroll
  for (int u = 0; u < kScaleVectorsPerThread; ++u) {
    const unsigned i = first + u * kThreads;
    if (i >= vectors) break;
    const unsigned e = i * kVec;
    C out[kVec];
    if constexpr (kChannelsLast) {
      const C* g = gates + (e / image_elements) * s.channels + e % unsigned(s.channels);
#pragma unroll
      for (int k = 0; k < kVec; ++k) out[k] = v[u][k] * g[k];
    } else {
      const C g = gates[e / unsigned(s.pixels)];
#pragma unroll
      for (int k = 0; k < kVec; ++k) out[k] = v[u][k] * g;
    }
    if constexpr (kVector) {
      Pack<T> packed;
#pragma unroll
      for (int k = 0; k < kVec; ++k) packed.v[k] = store_from_compute<T>(out[k]);
      *reinterpret_cast<Pack<T>*>(y + size_t(e)) = packed;
    } else {
      y[e] = store_from_compute<T>(out[0]);
    }
  }
}

// ---- launch ---------------------------------------------------------------------------------

int blocks_of(const SqueezeExciteShape& s, int images, int channels, int pixels) {
  return ((s.batch + images - 1) / images) * ((s.channels + channels - 1) / channels) *
         ((s.pixels + pixels - 1) / pixels);
}

// What the launches after the squeeze need besides the tensors: the gates' form and, for the
// gate kernel, where its gates go.
template <typename C> struct GateStep {
  SqueezeExciteGates form;
  C* gates;  // [batch][channels]; kGateKernel only
};

// w1 == nullptr: no squeeze kernel, the partials are another kernel's.
template <typename T, bool kChannelsLast, bool kVector>
cudaError_t launch_layout(const SqueezeExciteShape& s, const SqueezeExcitePlan& plan, const T* x, const T* w1,
                          const T* b1, Activation act1, const T* w2, const T* b2, Activation gate, T* y,
                          compute_t<T>* partials, GateStep<compute_t<T>> step, cudaStream_t stream) {
  using C = compute_t<T>;
  constexpr int kVec = kVector ? Pack<T>::kSize : 1;
  if (w1 != nullptr) {
    // kernel 1's row sums (NHWC): rows * columns <= kThreads entries of kVec channels per image.
    const size_t shared1 = kChannelsLast ? size_t(kThreads) * kVec * plan.images * sizeof(C) : 0;
    const cudaError_t squeezed =
        launch(squeeze_kernel<T, kChannelsLast, kVector>, blocks_of(s, plan.images, plan.squeeze_channels,
                                                                    plan.squeeze_pixels),
               kThreads, shared1, stream, x, w1, s, plan, partials);
    if (squeezed != cudaSuccess) return squeezed;
  }
  const size_t hidden_bytes = size_t(plan.images) * s.hidden * sizeof(C);
  if (step.form == SqueezeExciteGates::kInExciteBlocks) {
    const size_t shared2 = hidden_bytes + size_t(plan.images) * kSqueezeExciteMaxChannels * sizeof(C);
    return launch(excite_kernel<T, kChannelsLast, kVector>,
                  blocks_of(s, plan.images, plan.excite_channels, plan.excite_pixels), kThreads, shared2, stream, x,
                  b1, act1, w2, b2, gate, s, plan, partials, y);
  }
  const cudaError_t gated = launch(gate_kernel<T>, blocks_of(s, plan.images, plan.gate_channels, s.pixels), kThreads,
                                   hidden_bytes, stream, b1, act1, w2, b2, gate, s, plan,
                                   static_cast<const C*>(partials), step.gates);
  if (gated != cudaSuccess) return gated;
  const int64_t vectors = int64_t(s.batch) * s.channels * s.pixels / kVec;
  const int64_t per_block = int64_t(kThreads) * kScaleVectorsPerThread;
  return launch(scale_kernel<T, kChannelsLast, kVector>, static_cast<unsigned>((vectors + per_block - 1) / per_block),
                kThreads, 0, stream, x, s, static_cast<const C*>(step.gates), y);
}

// partials > 0: no squeeze kernel, that many partial vectors per image at `workspace` (w1 unused).
// `gates`: where the gate kernel leaves them (kGateKernel; nullptr: after the partials in `workspace`).
template <typename T>
cudaError_t launch_typed(const SqueezeExciteShape& s, SqueezeExciteGates form, const void* x, const void* w1,
                         const void* b1, Activation act1, const void* w2, const void* b2, Activation gate, void* y,
                         void* workspace, void* gates, cudaStream_t stream, int partials_given = 0) {
  using C = compute_t<T>;
  if (reinterpret_cast<uintptr_t>(workspace) % sizeof(C) != 0) return cudaErrorInvalidValue;
  SqueezeExcitePlan plan = squeeze_excite_plan(s);
  if (partials_given > 0) {
    plan.partials = partials_given;
    w1 = nullptr;
  }
  C* partials = static_cast<C*>(workspace);
  GateStep<C> step{form, static_cast<C*>(gates)};
  if (form == SqueezeExciteGates::kGateKernel && step.gates == nullptr) {
    step.gates = partials + size_t(s.batch) * plan.partials * s.hidden * (sizeof(double) / sizeof(C));
  }
  if (form == SqueezeExciteGates::kGateKernel && reinterpret_cast<uintptr_t>(step.gates) % sizeof(C) != 0) {
    return cudaErrorInvalidValue;
  }
  constexpr int kVec = Pack<T>::kSize;
  // 16-byte accesses where every vector of x and y starts on 16 bytes: whole
  // vectors per pixel (NHWC) or per plane (NCHW), aligned base pointers.
  // Chunks are multiples of 8 elements, so they keep that alignment.
  const bool vector = aligned_16(x) && aligned_16(y) && (s.channels_last ? s.channels : s.pixels) % kVec == 0;
  const T* tx = static_cast<const T*>(x);
  const T* tw1 = static_cast<const T*>(w1);
  const T* tb1 = static_cast<const T*>(b1);
  const T* tw2 = static_cast<const T*>(w2);
  const T* tb2 = static_cast<const T*>(b2);
  T* ty = static_cast<T*>(y);
  if (s.channels_last) {
    return vector
               ? launch_layout<T, true, true>(s, plan, tx, tw1, tb1, act1, tw2, tb2, gate, ty, partials, step, stream)
               : launch_layout<T, true, false>(s, plan, tx, tw1, tb1, act1, tw2, tb2, gate, ty, partials, step, stream);
  }
  return vector
             ? launch_layout<T, false, true>(s, plan, tx, tw1, tb1, act1, tw2, tb2, gate, ty, partials, step, stream)
             : launch_layout<T, false, false>(s, plan, tx, tw1, tb1, act1, tw2, tb2, gate, ty, partials, step, stream);
}

}  // namespace

cudaError_t launch_squeeze_excite(ElementType type, const SqueezeExciteShape& shape, SqueezeExciteGates gates,
                                  const void* x, const void* w1, const void* b1, Activation act1, const void* w2,
                                  const void* b2, Activation gate, void* y, void* workspace, cudaStream_t stream) {
  if (!squeeze_excite_supported(shape)) return cudaErrorInvalidValue;
  if (x == nullptr || w1 == nullptr || w2 == nullptr || y == nullptr || workspace == nullptr) {
    return cudaErrorInvalidValue;
  }
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, gates, x, w1, b1, act1, w2, b2, gate, y, workspace,
                                                      nullptr, stream);
  });
}

cudaError_t launch_excite(ElementType type, const SqueezeExciteShape& shape, SqueezeExciteGates gates, int partials,
                          const void* workspace, void* gate_workspace, const void* x, const void* b1, Activation act1,
                          const void* w2, const void* b2, Activation gate, void* y, cudaStream_t stream) {
  if (!squeeze_excite_supported(shape) || partials < 1) return cudaErrorInvalidValue;
  if (int64_t(shape.batch) * partials * shape.hidden > INT_MAX) return cudaErrorInvalidValue;
  if (x == nullptr || w2 == nullptr || y == nullptr || workspace == nullptr) return cudaErrorInvalidValue;
  if (gates == SqueezeExciteGates::kGateKernel && gate_workspace == nullptr) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, gates, x, nullptr, b1, act1, w2, b2, gate, y,
                                                      const_cast<void*>(workspace), gate_workspace, stream, partials);
  });
}

}  // namespace ifx::kernels
