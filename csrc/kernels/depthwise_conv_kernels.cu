#include "depthwise_conv_kernels.h"

#include <cstdint>
#include <climits>

#include "element_dispatch.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

// A depthwise layer does K*K multiply-adds per output and moves 2 to 5
// elements per output (input and output; 4x the input at stride 2), so at
// fp32 it is memory-bound on an H200 by a wide margin, and at 16 bits with
// 5x5 filters close to the FMA rate. The tiled kernels keep the load count per
// output low: each thread computes several outputs from input values held in
// registers, and the filter comes from registers or shared memory, never
// re-read from global memory per output.

constexpr int kMaxThreads = 256;

// `activate_one`: the activation as a functor (with_activation), so that the
// kernels switch on it once around their stores.
template <typename T, typename Activate>
__device__ __forceinline__ T finish(compute_t<T> value, bool has_bias, compute_t<T> bias, bool has_residual,
                                    compute_t<T> residual, Activate activate_one) {
  // The order TypedEpilogue::apply adds the terms in.
  if (has_bias) value += bias;
  if (has_residual) value += residual;
  return store_from_compute<T>(activate_one(value));
}

// ---- NHWC: a vector of channels by a strip of output columns per thread ----------------------

// Output columns per thread: four make each input vector of a row serve up to
// K outputs while a strip re-reads only K - stride columns of its neighbour's.
constexpr int kNhwcColumns = 4;

// Channel vectors per block at most: the block shares its channels' filters,
// staged in shared memory as [tap][channel] so that a thread reads a tap's
// weights for its channel vector with 16-byte loads (7x7: 25 KB).
constexpr int kNhwcMaxGroup = 32;

// The channels a thread takes, loaded and stored as one access (see
// depthwise_nhwc_channels in shapes.h for why 16-bit types take 4).
template <typename T> struct alignas(sizeof(T) * depthwise_nhwc_channels(sizeof(T))) ChannelVector {
  static constexpr int kSize = depthwise_nhwc_channels(sizeof(T));
  T v[kSize];
};

struct NhwcGrid {
  int strips;            // output column strips per row
  int row_groups;        // groups of kRows output rows per image
  int items;             // batch * row_groups * strips: the strips of the whole output, per channel vector
  int items_per_thread;  // strips a thread computes one after the other, amortizing the filter staging
  // Blocks (along x) split the strips of one image each: items_per_image =
  // row_groups * strips when a block's sums must belong to one image (the
  // squeeze side output); else items and the grid's x size (one "image").
  int items_per_image;
  int blocks_per_image;
};

// kN compute values from 16-byte aligned shared memory, in 16-byte loads.
template <int kN, typename C> __device__ __forceinline__ void load_shared(const C* p, C (&out)[kN]) {
  if constexpr (sizeof(C) == 4) {
    static_assert(kN % 4 == 0, "whole float4s");
#pragma unroll
    for (int i = 0; i < kN / 4; ++i) {
      const float4 v = reinterpret_cast<const float4*>(p)[i];
      out[4 * i] = v.x;
      out[4 * i + 1] = v.y;
      out[4 * i + 2] = v.z;
      out[4 * i + 3] = v.w;
    }
  } else {
    static_assert(kN % 2 == 0, "whole double2s");
#pragma unroll
    for (int i = 0; i < kN / 2; ++i) {
      const double2 v = reinterpret_cast<const double2*>(p)[i];
      out[2 * i] = v.x;
      out[2 * i + 1] = v.y;
    }
  }
}

// Copies `units` values through `put(index, value)`, each thread taking
// every `threads`-th one and issuing kBatch loads before their stores, so
// that their memory latencies overlap.
template <int kBatch, typename Unit, typename Put>
__device__ __forceinline__ void stage_in_batches(const Unit* __restrict__ source, int units, int thread, int threads,
                                                 Put put) {
  for (int first = thread; first < units; first += threads * kBatch) {
    Unit values[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      if (first + b * threads < units) values[b] = source[first + b * threads];
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      if (first + b * threads < units) put(first + b * threads, values[b]);
    }
  }
}

// The filters of channels [c_begin, c_begin + group_size) (whole channel
// vectors) into shared memory as [tap][channel] in the compute type, `stride`
// channels per tap, by `threads` threads. The group's filters are contiguous
// in global memory: coalesced loads, transposed on the way into shared memory,
// loaded a batch at a time, a channel vector per load where the weight's
// address allows: one element per load and one load in flight per thread made
// the staging a chain of up to 100 memory round trips, most of a batch-1
// layer's time (docs/notes/depthwise_and_se_kernels.md).
template <typename T, int kTaps>
__device__ __forceinline__ void stage_filters(const T* __restrict__ weight, int c_begin, int group_size, int stride,
                                              int thread, int threads, compute_t<T>* taps) {
  constexpr int kVec = ChannelVector<T>::kSize;
  const T* group_weight = weight + c_begin * kTaps;
  const int elements = group_size * kTaps;  // whole vectors: group_size is a multiple of kVec
  const auto put = [&](int e, T value) {
    const int channel = e / kTaps;
    taps[(e - channel * kTaps) * stride + channel] = load_as_compute(value);
  };
  if (reinterpret_cast<uintptr_t>(group_weight) % sizeof(ChannelVector<T>) == 0) {
    stage_in_batches<4>(reinterpret_cast<const ChannelVector<T>*>(group_weight), elements / kVec, thread, threads,
                        [&](int p, const ChannelVector<T>& v) {
#pragma unroll
                          for (int i = 0; i < kVec; ++i) put(p * kVec + i, v.v[i]);
                        });
  } else {
    stage_in_batches<8>(group_weight, elements, thread, threads, put);
  }
}

// A thread's strip of one output row: columns ow0 .. ow0 + kNhwcColumns - 1
// (those inside the row) of channel vector c, through the epilogue. kSqueeze:
// the stored values are also added into `sums`, per channel.
template <typename T, bool kSqueeze = false, typename Activate>
__device__ __forceinline__ void store_strip(T* __restrict__ output, const TypedEpilogue<T>& epilogue,
                                            const DepthwiseShape& s, int n, int oh, int ow0, int c,
                                            const compute_t<T> (&acc)[kNhwcColumns][ChannelVector<T>::kSize],
                                            bool has_bias, const compute_t<T>* bias, Activate activate_one,
                                            compute_t<T>* sums = nullptr) {
  using C = compute_t<T>;
  constexpr int kVec = ChannelVector<T>::kSize;
  const bool has_residual = epilogue.residual != nullptr;
#pragma unroll
  for (int j = 0; j < kNhwcColumns; ++j) {
    const int ow = ow0 + j;
    if (ow >= s.out_w) break;
    const int at = ((n * s.out_h + oh) * s.out_w + ow) * s.channels + c;
    ChannelVector<T> residual;
    if (has_residual) residual = *reinterpret_cast<const ChannelVector<T>*>(epilogue.residual + at);
    ChannelVector<T> out;
#pragma unroll
    for (int v = 0; v < kVec; ++v) {
      const C r = has_residual ? load_as_compute(residual.v[v]) : C(0);
      out.v[v] = finish<T>(acc[j][v], has_bias, bias[v], has_residual, r, activate_one);
      if constexpr (kSqueeze) sums[v] += load_as_compute(out.v[v]);
    }
    *reinterpret_cast<ChannelVector<T>*>(output + at) = out;
  }
}

// ---- the squeeze of an SE block as a side output (launch_depthwise_conv2d_squeeze) -----------

// Kernel arguments of DepthwiseSqueeze, typed; `slots`: partial vectors per image.
template <typename T> struct SqueezeOutput {
  const T* __restrict__ w1;
  int hidden;
  int slots;
  compute_t<T>* __restrict__ partials;
};

// The block's channel sums, one row of `width` values per group of threads
// in `reduce` (rows x width), added up row by row (a fixed order: the result
// does not depend on timing), divided by the image's pixels, then times fc1's
// columns [c_begin, c_begin + channels): slot `slot` of image n. Every thread
// of the block calls it, after the rows are written and a barrier.
template <typename T>
__device__ __forceinline__ void write_fc1_partials(const SqueezeOutput<T>& q, const DepthwiseShape& s,
                                                   compute_t<T>* reduce, int rows, int width, int c_begin,
                                                   int channels, int n, int slot, int thread, int threads) {
  using C = compute_t<T>;
  using Vector = ChannelVector<T>;
  constexpr int kVec = Vector::kSize;
  const C pixels = C(s.out_h) * C(s.out_w);
  for (int c = thread; c < channels; c += threads) {  // column c is this thread's alone: row 0 takes the mean
    C sum = 0;
    for (int r = 0; r < rows; ++r) sum += reduce[r * width + c];
    reduce[c] = sum / pixels;
  }
  __syncthreads();
  // One hidden unit per thread: its row of fc1 over the block's channels, a
  // channel vector per load (rows and c_begin start on whole vectors).
  C* out = q.partials + (int64_t(n) * q.slots + slot) * q.hidden;
  for (int j = thread; j < q.hidden; j += threads) {
    const Vector* row = reinterpret_cast<const Vector*>(q.w1 + int64_t(j) * s.channels + c_begin);
    C dot = 0;
#pragma unroll 4
    for (int v = 0; v < channels / kVec; ++v) {
      const Vector w = row[v];
#pragma unroll
      for (int k = 0; k < kVec; ++k) dot += load_as_compute(w.v[k]) * reduce[v * kVec + k];
    }
    out[j] = dot;
  }
}

// Block (x, y): blockDim.x channel vectors starting at vector blockIdx.y *
// blockDim.x, by blockDim.y * items_per_thread consecutive strips of kRows
// output rows by kColumns output columns. A thread walks the input rows of its
// strip; per row it loads each of the (columns - 1) * stride + K input vectors
// once and adds it into every output of the strip that tap touches, so a
// vector load serves up to K outputs per output row. Neighbouring strips
// re-read input rows from L2, not DRAM: the blocks that run together cover
// neighbouring rows.
// kSqueeze: the block also leaves its fc1 partials (write_fc1_partials).
template <typename T, int kK, int kS, int kRows, bool kSqueeze>
__global__ void __launch_bounds__(kMaxThreads)
    depthwise_nhwc_kernel(const T* __restrict__ input, const T* __restrict__ weight, T* __restrict__ output,
                          DepthwiseShape s, TypedEpilogue<T> epilogue, NhwcGrid g, SqueezeOutput<T> squeeze) {
  using C = compute_t<T>;
  constexpr int kVec = ChannelVector<T>::kSize;
  constexpr int kTaps = kK * kK;
  constexpr int kColumns = kNhwcColumns;
  static_assert(kRows == 1 || kK == 3, "several rows per thread keep the whole filter in registers: 3x3 only");
  constexpr int kSpan = (kColumns - 1) * kS + kK;
  constexpr int kRowsIn = (kRows - 1) * kS + kK;
  static_assert(kSpan <= 32, "the column mask is one word");
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  C* taps = reinterpret_cast<C*>(shared_bytes);
  wait_for_previous_kernel();

  const int group_channels = blockDim.x * kVec;
  const int c_begin = blockIdx.y * group_channels;
  const int group_size = min(group_channels, s.channels - c_begin);
  stage_filters<T, kTaps>(weight, c_begin, group_size, group_channels, threadIdx.y * blockDim.x + threadIdx.x,
                          blockDim.x * blockDim.y, taps);
  __syncthreads();

  const int c = c_begin + threadIdx.x * kVec;
  const bool active = c < s.channels;  // a partial last group leaves lanes idle
  if (!kSqueeze && !active) return;    // with the squeeze they still meet its barriers
  const bool has_bias = epilogue.bias != nullptr;
  C bias[kVec];
#pragma unroll
  for (int v = 0; v < kVec; ++v) bias[v] = has_bias && active ? load_as_compute(epilogue.bias[c + v]) : C(0);
  C sums[kVec];
#pragma unroll
  for (int v = 0; v < kVec; ++v) sums[v] = C(0);
  const C* my_taps = taps + threadIdx.x * kVec;
  // Several output rows per thread: the whole filter in registers (DepthwiseForm, shapes.h).
  C filter[kRows > 1 ? kTaps : 1][kVec];
  if constexpr (kRows > 1) {
#pragma unroll
    for (int t = 0; t < kTaps; ++t) load_shared<kVec>(my_taps + t * group_channels, filter[t]);
  }

  const int image = blockIdx.x / g.blocks_per_image;
  const int image_block = blockIdx.x - image * g.blocks_per_image;
  const int image_first = image * g.items_per_image;
  const int image_end = min(image_first + g.items_per_image, g.items);
  const int first = image_first + image_block * blockDim.y * g.items_per_thread + threadIdx.y;
  for (int r = 0; r < (active ? g.items_per_thread : 0); ++r) {
    const int item = first + r * blockDim.y;
    if (item >= image_end) break;
    const int strip = item % g.strips;
    const int rest = item / g.strips;
    const int oh0 = (rest % g.row_groups) * kRows;
    const int n = rest / g.row_groups;
    const int ow0 = strip * kColumns;
    const int iw0 = ow0 * kS - s.pad_w;
    const int ih0 = oh0 * kS - s.pad_h;
    unsigned column_ok = 0;
#pragma unroll
    for (int i = 0; i < kSpan; ++i) column_ok |= unsigned(unsigned(iw0 + i) < unsigned(s.in_w)) << i;

    C acc[kRows][kColumns][kVec];
#pragma unroll
    for (int a = 0; a < kRows; ++a) {
#pragma unroll
      for (int j = 0; j < kColumns; ++j) {
#pragma unroll
        for (int v = 0; v < kVec; ++v) acc[a][j][v] = C(0);
      }
    }
#pragma unroll
    for (int y = 0; y < kRowsIn; ++y) {
      const int ih = ih0 + y;
      if (unsigned(ih) >= unsigned(s.in_h)) continue;
      // One output row: this input row's taps (y == kh), from shared memory.
      C row_taps[kRows > 1 ? 1 : kK][kVec];
      if constexpr (kRows == 1) {
#pragma unroll
        for (int kw = 0; kw < kK; ++kw) load_shared<kVec>(my_taps + (y * kK + kw) * group_channels, row_taps[kw]);
      }
      const int row = (n * s.in_h + ih) * s.in_w + iw0;
#pragma unroll
      for (int i = 0; i < kSpan; ++i) {
        C x[kVec];
        if (column_ok >> i & 1u) {
          const ChannelVector<T> p = *reinterpret_cast<const ChannelVector<T>*>(input + (row + i) * s.channels + c);
#pragma unroll
          for (int v = 0; v < kVec; ++v) x[v] = load_as_compute(p.v[v]);
        } else {
#pragma unroll
          for (int v = 0; v < kVec; ++v) x[v] = C(0);
        }
#pragma unroll
        for (int a = 0; a < kRows; ++a) {
          const int kh = y - a * kS;
          if (kh < 0 || kh >= kK) continue;
#pragma unroll
          for (int j = 0; j < kColumns; ++j) {
            const int kw = i - j * kS;
            if (kw < 0 || kw >= kK) continue;
#pragma unroll
            for (int v = 0; v < kVec; ++v) {
              if constexpr (kRows > 1) {
                acc[a][j][v] += x[v] * filter[kh * kK + kw][v];
              } else {
                acc[a][j][v] += x[v] * row_taps[kw][v];
              }
            }
          }
        }
      }
    }

    with_activation<C>(epilogue.activation, [&](auto activate_one) {
#pragma unroll
      for (int a = 0; a < kRows; ++a) {
        if (oh0 + a >= s.out_h) break;
        store_strip<T, kSqueeze>(output, epilogue, s, n, oh0 + a, ow0, c, acc[a], has_bias, bias, activate_one,
                                 sums);
      }
    });
  }
  if constexpr (kSqueeze) {
    // Past the filters: [blockDim.y][group_channels], this thread's column being its channel vector.
    C* reduce = taps + kTaps * group_channels;
#pragma unroll
    for (int v = 0; v < kVec; ++v) reduce[threadIdx.y * group_channels + threadIdx.x * kVec + v] = sums[v];
    __syncthreads();
    write_fc1_partials<T>(squeeze, s, reduce, blockDim.y, group_channels, c_begin, group_size, image,
                          blockIdx.y * g.blocks_per_image + image_block, threadIdx.y * blockDim.x + threadIdx.x,
                          blockDim.x * blockDim.y);
  }
}

// The channel vectors per block: a divisor of `vectors` in [max / 2, max]
// where there is one, so that no block has idle lanes; `max` otherwise.
int channel_group(int vectors, int max_group) {
  if (vectors <= max_group) return vectors;
  for (int g = max_group; g >= max_group / 2; --g) {
    if (vectors % g == 0) return g;
  }
  return max_group;
}

// Enough blocks to spread a layer over every multiprocessor a few times, and
// strips per thread raised only once there are many more than that.
constexpr int64_t kFillBlocks = 512;
constexpr int64_t kManyBlocks = 4096;

// With the squeeze, more strips per thread once there are this many blocks:
// fewer blocks per image, each reading its fc1 slice once.
constexpr int64_t kSqueezeManyBlocks = 1024;

struct NhwcLaunch {
  NhwcGrid g;
  int groups, group, rows;  // channel groups (grid.y), channel vectors per group, rows of threads
  dim3 grid() const { return dim3(static_cast<unsigned>(g.blocks_per_image * int64_t(g.items) / g.items_per_image),
                                  static_cast<unsigned>(groups)); }
  int squeeze_slots() const { return groups * g.blocks_per_image; }
};

// How launch_nhwc splits a layer of `vec`-channel vectors and `kRows` output
// rows per strip, with or without the squeeze; depthwise_squeeze_slots reads it too.
NhwcLaunch nhwc_launch(const DepthwiseShape& s, int vec, int kRows, bool squeeze) {
  NhwcLaunch l;
  const int vectors = s.channels / vec;
  l.group = channel_group(vectors, kNhwcMaxGroup);
  l.groups = (vectors + l.group - 1) / l.group;
  NhwcGrid& g = l.g;
  g.strips = (s.out_w + kNhwcColumns - 1) / kNhwcColumns;
  g.row_groups = (s.out_h + kRows - 1) / kRows;
  g.items = s.batch * g.row_groups * g.strips;
  const int64_t images = squeeze ? s.batch : 1;
  const int64_t per_image = g.items / images;
  const auto blocks = [&](int rows, int per_thread) {
    return images * ((per_image + int64_t(rows) * per_thread - 1) / (int64_t(rows) * per_thread)) * l.groups;
  };
  l.rows = kMaxThreads / l.group > 0 ? kMaxThreads / l.group : 1;
  // Small layers: smaller blocks put more multiprocessors to work.
  while (l.rows > 1 && l.rows * l.group > 64 && blocks(l.rows, 1) < kFillBlocks) l.rows /= 2;
  g.items_per_thread = 1;
  const int64_t many = squeeze ? kSqueezeManyBlocks : kManyBlocks;
  while (g.items_per_thread < 4 && blocks(l.rows, g.items_per_thread * 2) >= many) g.items_per_thread *= 2;
  g.items_per_image = static_cast<int>(per_image);
  g.blocks_per_image = static_cast<int>(blocks(l.rows, g.items_per_thread) / (images * l.groups));
  return l;
}

template <typename T, int kK, int kS, int kRows, bool kSqueeze = false>
cudaError_t launch_nhwc(const DepthwiseShape& s, const T* input, const T* weight, T* output,
                        const TypedEpilogue<T>& epilogue, cudaStream_t stream, SqueezeOutput<T> squeeze = {}) {
  constexpr int kVec = ChannelVector<T>::kSize;
  const NhwcLaunch l = nhwc_launch(s, kVec, kRows, kSqueeze);
  squeeze.slots = l.squeeze_slots();
  const dim3 block(l.group, l.rows);
  // The filters, then (squeeze) the block's channel sums per row of threads.
  const size_t shared = (size_t(kK) * kK + (kSqueeze ? l.rows : 0)) * l.group * kVec * sizeof(compute_t<T>);
  return launch(depthwise_nhwc_kernel<T, kK, kS, kRows, kSqueeze>, l.grid(), block, shared, stream, input, weight,
                output, s, epilogue, l.g, squeeze);
}

// ---- NHWC, the block's input tile staged in shared memory (16-bit types and fp32) ---------------

// A block takes 64 bytes of channels of each pixel (kVectors channel vectors:
// 32 channels of a 16-bit type, 16 of fp32) by kTileRows output rows by
// kColumns output columns. It stages the input those outputs read (the halo
// included, zeros outside the image) in shared memory once, then each thread
// computes one strip of kNhwcColumns outputs of one row, as
// depthwise_nhwc_kernel's one-row form does, reading its input vectors from
// there instead of from L2.
constexpr int kTileRows = 8;

template <typename T, int kS> struct SharedTile {
  static constexpr int kVectors = 64 / int(sizeof(ChannelVector<T>));
  static constexpr int kStrips = kS == 1 ? 4 : 2;  // per output row: 16 columns at stride 1, 8 at stride 2
  static constexpr int kColumns = kStrips * kNhwcColumns;
  static constexpr int kThreads = kVectors * kStrips * kTileRows;
  // Staged pixels lie kPixelStride vectors apart (80 bytes; 72 for 16-bit
  // types at stride 2): the accesses served together (two strips' vectors)
  // then fall on different banks, except fp32 at stride 2 (2-way).
  static constexpr int kPixelStride =
      kVectors + (kS == 1 || sizeof(ChannelVector<T>) == 16 ? 16 : 8) / int(sizeof(ChannelVector<T>));
  template <int kK> static constexpr int rows_in() { return (kTileRows - 1) * kS + kK; }
  template <int kK> static constexpr int columns_in() { return (kColumns - 1) * kS + kK; }
  template <int kK> static constexpr size_t shared_bytes() {
    return size_t(kK) * kK * kVectors * ChannelVector<T>::kSize * sizeof(compute_t<T>) +
           size_t(rows_in<kK>()) * columns_in<kK>() * kPixelStride * sizeof(ChannelVector<T>);
  }
  static_assert(shared_bytes<7>() <= 48 * 1024, "within what a block takes without opting in");
};

struct SharedTileGrid {
  int tiles_h, tiles_w;  // output tiles per image along H and W
};

// kSqueeze: the block also leaves its fc1 partials (write_fc1_partials).
template <typename T, int kK, int kS, bool kSqueeze>
__global__ void __launch_bounds__(kMaxThreads)
    depthwise_nhwc_shared_tile_kernel(const T* __restrict__ input, const T* __restrict__ weight,
                                      T* __restrict__ output, DepthwiseShape s, TypedEpilogue<T> epilogue,
                                      SharedTileGrid g, SqueezeOutput<T> squeeze) {
  using C = compute_t<T>;
  using Vector = ChannelVector<T>;
  using Tile = SharedTile<T, kS>;
  constexpr int kVec = Vector::kSize;
  constexpr int kTaps = kK * kK;
  constexpr int kGroupChannels = Tile::kVectors * kVec;
  constexpr int kRowsIn = Tile::template rows_in<kK>();
  constexpr int kColumnsIn = Tile::template columns_in<kK>();
  constexpr int kSpan = (kNhwcColumns - 1) * kS + kK;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  C* taps = reinterpret_cast<C*>(shared_bytes);                               // [tap][kGroupChannels]
  Vector* staged = reinterpret_cast<Vector*>(taps + kTaps * kGroupChannels);  // [row][column][kPixelStride]
  wait_for_previous_kernel();

  const int thread = threadIdx.x;
  const int c_begin = blockIdx.y * kGroupChannels;
  const int group_vectors = min(Tile::kVectors, (s.channels - c_begin) / kVec);
  stage_filters<T, kTaps>(weight, c_begin, group_vectors * kVec, kGroupChannels, thread, Tile::kThreads, taps);

  int rest = blockIdx.x;
  const int tile_w = rest % g.tiles_w;
  rest /= g.tiles_w;
  const int oh0 = rest % g.tiles_h * kTileRows;
  const int n = rest / g.tiles_h;
  const int ow0 = tile_w * Tile::kColumns;
  const int ih0 = oh0 * kS - s.pad_h, iw0 = ow0 * kS - s.pad_w;
  {
    // The input tile, 4 loads in flight per thread before their stores.
    constexpr int kBatch = 4;
    const int units = kRowsIn * kColumnsIn * group_vectors;
    Vector zero;
#pragma unroll
    for (int i = 0; i < kVec; ++i) zero.v[i] = store_from_compute<T>(C(0));
    for (int first = thread; first < units; first += Tile::kThreads * kBatch) {
      Vector values[kBatch];
      int slots[kBatch];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int unit = first + b * Tile::kThreads;
        if (unit >= units) break;
        const int v = unit % group_vectors, pixel = unit / group_vectors;
        const int column = pixel % kColumnsIn, row = pixel / kColumnsIn;
        const int ih = ih0 + row, iw = iw0 + column;
        slots[b] = pixel * Tile::kPixelStride + v;
        values[b] = unsigned(ih) < unsigned(s.in_h) && unsigned(iw) < unsigned(s.in_w)
                        ? *reinterpret_cast<const Vector*>(input + ((n * s.in_h + ih) * s.in_w + iw) * s.channels +
                                                           c_begin + v * kVec)
                        : zero;
      }
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        if (first + b * Tile::kThreads >= units) break;
        staged[slots[b]] = values[b];
      }
    }
  }
  __syncthreads();

  const int v = thread % Tile::kVectors;
  const int strip = thread / Tile::kVectors % Tile::kStrips;
  const int row = thread / (Tile::kVectors * Tile::kStrips);
  const int oh = oh0 + row;
  const bool active = v < group_vectors && oh < s.out_h;
  if (!kSqueeze && !active) return;  // with the squeeze they still meet its barriers
  const int c = c_begin + v * kVec;
  const bool has_bias = epilogue.bias != nullptr;
  C bias[kVec];
#pragma unroll
  for (int k = 0; k < kVec; ++k) bias[k] = has_bias && active ? load_as_compute(epilogue.bias[c + k]) : C(0);
  const C* my_taps = taps + v * kVec;

  C acc[kNhwcColumns][kVec];
#pragma unroll
  for (int j = 0; j < kNhwcColumns; ++j) {
#pragma unroll
    for (int k = 0; k < kVec; ++k) acc[j][k] = C(0);
  }
#pragma unroll
  for (int y = 0; y < kK; ++y) {
    C row_taps[kK][kVec];
#pragma unroll
    for (int kw = 0; kw < kK; ++kw) load_shared<kVec>(my_taps + (y * kK + kw) * kGroupChannels, row_taps[kw]);
    const Vector* in_row = staged + ((row * kS + y) * kColumnsIn + strip * kNhwcColumns * kS) * Tile::kPixelStride + v;
#pragma unroll
    for (int i = 0; i < kSpan; ++i) {
      const Vector p = in_row[i * Tile::kPixelStride];
      C x[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) x[k] = load_as_compute(p.v[k]);
#pragma unroll
      for (int j = 0; j < kNhwcColumns; ++j) {
        const int kw = i - j * kS;
        if (kw < 0 || kw >= kK) continue;
#pragma unroll
        for (int k = 0; k < kVec; ++k) acc[j][k] += x[k] * row_taps[kw][k];
      }
    }
  }
  C sums[kVec];
#pragma unroll
  for (int k = 0; k < kVec; ++k) sums[k] = C(0);
  if (active) {
    with_activation<C>(epilogue.activation, [&](auto activate_one) {
      store_strip<T, kSqueeze>(output, epilogue, s, n, oh, ow0 + strip * kNhwcColumns, c, acc, has_bias, bias,
                               activate_one, sums);
    });
  }
  if constexpr (kSqueeze) {
    // The staged input is read: its space takes [kStrips * kTileRows][kGroupChannels] sums.
    __syncthreads();
    C* reduce = reinterpret_cast<C*>(staged);
#pragma unroll
    for (int k = 0; k < kVec; ++k) reduce[thread / Tile::kVectors * kGroupChannels + v * kVec + k] = sums[k];
    __syncthreads();
    const int tiles = g.tiles_h * g.tiles_w;
    write_fc1_partials<T>(squeeze, s, reduce, Tile::kStrips * kTileRows, kGroupChannels, c_begin,
                          group_vectors * kVec, n, blockIdx.y * tiles + int(blockIdx.x) % tiles, thread,
                          Tile::kThreads);
  }
}

// Tiles per image by channel groups: the squeeze side output's slots per image.
int shared_tile_slots(const DepthwiseShape& s, int element_bytes) {
  const int vec = depthwise_nhwc_channels(element_bytes);
  const int vectors = 64 / (vec * element_bytes);  // SharedTile::kVectors
  const int columns = (s.stride_w == 1 ? 4 : 2) * kNhwcColumns;  // SharedTile::kColumns
  const int tiles = ((s.out_h + kTileRows - 1) / kTileRows) * ((s.out_w + columns - 1) / columns);
  return tiles * ((s.channels / vec + vectors - 1) / vectors);
}

template <typename T, int kK, int kS, bool kSqueeze = false>
cudaError_t launch_nhwc_shared_tile(const DepthwiseShape& s, const T* input, const T* weight, T* output,
                                    const TypedEpilogue<T>& epilogue, cudaStream_t stream,
                                    SqueezeOutput<T> squeeze = {}) {
  using Tile = SharedTile<T, kS>;
  constexpr int kVec = ChannelVector<T>::kSize;
  static_assert(Tile::kStrips * kTileRows * Tile::kVectors * kVec * sizeof(compute_t<T>) <=
                    Tile::template rows_in<3>() * Tile::template columns_in<3>() * Tile::kPixelStride *
                        sizeof(ChannelVector<T>),
                "the squeeze's sums fit where the input tile was staged");
  const SharedTileGrid g{(s.out_h + kTileRows - 1) / kTileRows, (s.out_w + Tile::kColumns - 1) / Tile::kColumns};
  const int64_t tiles = int64_t(s.batch) * g.tiles_h * g.tiles_w;
  const int groups = (s.channels / kVec + Tile::kVectors - 1) / Tile::kVectors;
  if (tiles > INT_MAX || groups > 65535) return cudaErrorInvalidValue;  // depthwise_shared_tile_supported
  squeeze.slots = shared_tile_slots(s, sizeof(T));
  return launch(depthwise_nhwc_shared_tile_kernel<T, kK, kS, kSqueeze>, dim3(static_cast<unsigned>(tiles), groups),
                dim3(Tile::kThreads), Tile::template shared_bytes<kK>(), stream, input, weight, output, s, epilogue, g,
                squeeze);
}

// ---- NCHW: a patch of output rows by columns of one channel per thread -----------------------

// 4 rows by 2 columns: per input row a thread loads (2 - 1) * stride + K
// values and uses each for up to 2K products; consecutive threads take
// consecutive column pairs of a row, so the warp's loads are coalesced along
// W. The K*K filter of the thread's channel stays in registers.
constexpr int kPlanarRows = 4;
constexpr int kPlanarColumns = 2;

struct PlanarGrid {
  int strips;      // column pairs per output row
  int row_groups;  // groups of kPlanarRows output rows per plane
  int items;       // batch * channels * row_groups * strips
};

template <typename T, int kK, int kS>
__global__ void __launch_bounds__(kMaxThreads)
    depthwise_nchw_kernel(const T* __restrict__ input, const T* __restrict__ weight, T* __restrict__ output,
                          DepthwiseShape s, TypedEpilogue<T> epilogue, PlanarGrid g) {
  using C = compute_t<T>;
  constexpr int kTaps = kK * kK;
  constexpr int kRowsIn = (kPlanarRows - 1) * kS + kK;
  constexpr int kColumnsIn = (kPlanarColumns - 1) * kS + kK;
  wait_for_previous_kernel();
  const int item = blockIdx.x * blockDim.x + threadIdx.x;
  if (item >= g.items) return;
  const int strip = item % g.strips;
  const int rest = item / g.strips;
  const int row_group = rest % g.row_groups;
  const int plane = rest / g.row_groups;
  const int channel = plane % s.channels;

  C w[kTaps];
#pragma unroll
  for (int t = 0; t < kTaps; ++t) w[t] = load_as_compute(weight[channel * kTaps + t]);

  const int ow0 = strip * kPlanarColumns;
  const int oh0 = row_group * kPlanarRows;
  const int iw0 = ow0 * kS - s.pad_w;
  const int ih0 = oh0 * kS - s.pad_h;
  unsigned column_ok = 0;
#pragma unroll
  for (int i = 0; i < kColumnsIn; ++i) column_ok |= unsigned(unsigned(iw0 + i) < unsigned(s.in_w)) << i;
  const T* src = input + plane * (s.in_h * s.in_w);

  C acc[kPlanarRows][kPlanarColumns];
#pragma unroll
  for (int a = 0; a < kPlanarRows; ++a) {
#pragma unroll
    for (int b = 0; b < kPlanarColumns; ++b) acc[a][b] = C(0);
  }
#pragma unroll
  for (int r = 0; r < kRowsIn; ++r) {
    const int ih = ih0 + r;
    if (unsigned(ih) >= unsigned(s.in_h)) continue;
    const int line = ih * s.in_w + iw0;
    C x[kColumnsIn];
#pragma unroll
    for (int i = 0; i < kColumnsIn; ++i) x[i] = column_ok >> i & 1u ? load_as_compute(src[line + i]) : C(0);
#pragma unroll
    for (int a = 0; a < kPlanarRows; ++a) {
      const int kh = r - a * kS;
      if (kh < 0 || kh >= kK) continue;
#pragma unroll
      for (int b = 0; b < kPlanarColumns; ++b) {
#pragma unroll
        for (int kw = 0; kw < kK; ++kw) acc[a][b] += x[b * kS + kw] * w[kh * kK + kw];
      }
    }
  }

  const bool has_bias = epilogue.bias != nullptr;
  const bool has_residual = epilogue.residual != nullptr;
  const C bias = has_bias ? load_as_compute(epilogue.bias[channel]) : C(0);
  with_activation<C>(epilogue.activation, [&](auto activate_one) {
#pragma unroll
    for (int a = 0; a < kPlanarRows; ++a) {
      const int oh = oh0 + a;
      if (oh >= s.out_h) break;
#pragma unroll
      for (int b = 0; b < kPlanarColumns; ++b) {
        const int ow = ow0 + b;
        if (ow >= s.out_w) break;
        const int at = (plane * s.out_h + oh) * s.out_w + ow;
        const C r = has_residual ? load_as_compute(epilogue.residual[at]) : C(0);
        output[at] = finish<T>(acc[a][b], has_bias, bias, has_residual, r, activate_one);
      }
    }
  });
}

template <typename T, int kK, int kS>
cudaError_t launch_nchw(const DepthwiseShape& s, const T* input, const T* weight, T* output,
                        const TypedEpilogue<T>& epilogue, cudaStream_t stream) {
  PlanarGrid g;
  g.strips = (s.out_w + kPlanarColumns - 1) / kPlanarColumns;
  g.row_groups = (s.out_h + kPlanarRows - 1) / kPlanarRows;
  g.items = s.batch * s.channels * g.row_groups * g.strips;
  // Small layers: smaller blocks put more multiprocessors to work.
  int threads = kMaxThreads;
  while (threads > 64 && (int64_t(g.items) + threads - 1) / threads < kFillBlocks) threads /= 2;
  const unsigned blocks = static_cast<unsigned>((int64_t(g.items) + threads - 1) / threads);
  return launch(depthwise_nchw_kernel<T, kK, kS>, blocks, threads, 0, stream, input, weight, output, s, epilogue, g);
}

// ---- generic: one output per thread ---------------------------------------------------------

// Any filter size, stride, padding and dilation, any channel count and
// alignment. NHWC puts channels innermost, so a warp reads neighbouring
// channels of one pixel per tap; NCHW puts columns innermost, so a warp reads
// along a row.
template <typename T, bool kChannelsLast>
__global__ void __launch_bounds__(kMaxThreads)
    depthwise_generic_kernel(const T* __restrict__ input, const T* __restrict__ weight, T* __restrict__ output,
                             DepthwiseShape s, TypedEpilogue<T> epilogue) {
  using C = compute_t<T>;
  wait_for_previous_kernel();
  const int total = s.batch * s.channels * s.out_h * s.out_w;
  const int stride = gridDim.x * blockDim.x;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    int n, c, oh, ow;
    if constexpr (kChannelsLast) {
      c = i % s.channels;
      int rest = i / s.channels;
      ow = rest % s.out_w;
      rest /= s.out_w;
      oh = rest % s.out_h;
      n = rest / s.out_h;
    } else {
      ow = i % s.out_w;
      int rest = i / s.out_w;
      oh = rest % s.out_h;
      rest /= s.out_h;
      c = rest % s.channels;
      n = rest / s.channels;
    }
    const int ih0 = oh * s.stride_h - s.pad_h;
    const int iw0 = ow * s.stride_w - s.pad_w;
    const T* w = weight + int64_t(c) * s.kernel_h * s.kernel_w;
    C sum = 0;
    for (int kh = 0; kh < s.kernel_h; ++kh) {
      const int ih = ih0 + kh * s.dilation_h;
      const bool row_ok = unsigned(ih) < unsigned(s.in_h);
      for (int kw = 0; kw < s.kernel_w; ++kw) {
        const int iw = iw0 + kw * s.dilation_w;
        C x = 0;
        if (row_ok && unsigned(iw) < unsigned(s.in_w)) {
          const int at = kChannelsLast ? ((n * s.in_h + ih) * s.in_w + iw) * s.channels + c
                                       : ((n * s.channels + c) * s.in_h + ih) * s.in_w + iw;
          x = load_as_compute(input[at]);
        }
        sum += x * load_as_compute(w[kh * s.kernel_w + kw]);
      }
    }
    output[i] = epilogue.finish(sum, i, c);
  }
}

template <typename T>
cudaError_t launch_generic(const DepthwiseShape& s, const T* input, const T* weight, T* output,
                           const TypedEpilogue<T>& epilogue, cudaStream_t stream) {
  constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // past it the grid-stride loop takes over
  const int64_t total = int64_t(s.batch) * s.channels * s.out_h * s.out_w;
  int64_t blocks = (total + kMaxThreads - 1) / kMaxThreads;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  if (s.channels_last) {
    return launch(depthwise_generic_kernel<T, true>, static_cast<unsigned>(blocks), kMaxThreads, 0, stream, input,
                  weight, output, s, epilogue);
  }
  return launch(depthwise_generic_kernel<T, false>, static_cast<unsigned>(blocks), kMaxThreads, 0, stream, input,
                weight, output, s, epilogue);
}

// ---- dispatch -------------------------------------------------------------------------------

// The NHWC forms with the squeeze side output (depthwise_squeeze_supported
// has checked the form, type and shape).
template <typename T, int kK, int kS>
cudaError_t launch_tiled_squeeze(DepthwiseForm form, const DepthwiseShape& s, const T* input, const T* weight,
                                 T* output, const TypedEpilogue<T>& epilogue, const SqueezeOutput<T>& squeeze,
                                 cudaStream_t stream) {
  if constexpr (sizeof(T) <= 4) {
    if constexpr (kK == 3 && sizeof(T) == 4) {
      if (form == DepthwiseForm::kTwoRows) {
        return launch_nhwc<T, kK, kS, 2, true>(s, input, weight, output, epilogue, stream, squeeze);
      }
    }
    if (form == DepthwiseForm::kSharedTile) {
      return launch_nhwc_shared_tile<T, kK, kS, true>(s, input, weight, output, epilogue, stream, squeeze);
    }
    if (form == DepthwiseForm::kOneRow) {
      return launch_nhwc<T, kK, kS, 1, true>(s, input, weight, output, epilogue, stream, squeeze);
    }
  }
  return cudaErrorInvalidValue;
}

template <typename T, int kK, int kS>
cudaError_t launch_tiled(DepthwiseVariant variant, DepthwiseForm form, const DepthwiseShape& s, const T* input,
                         const T* weight, T* output, const TypedEpilogue<T>& epilogue, cudaStream_t stream,
                         const SqueezeOutput<T>* squeeze) {
  if (squeeze != nullptr) return launch_tiled_squeeze<T, kK, kS>(form, s, input, weight, output, epilogue, *squeeze, stream);
  if (variant == DepthwiseVariant::kChannelsLastTiled) {
    if constexpr (kK == 3 && sizeof(T) >= 4) {  // where depthwise_two_rows_supported takes it
      if (form == DepthwiseForm::kTwoRows) return launch_nhwc<T, kK, kS, 2>(s, input, weight, output, epilogue, stream);
    }
    if constexpr (sizeof(T) <= 4) {  // where depthwise_shared_tile_supported takes it
      if (form == DepthwiseForm::kSharedTile) {
        return launch_nhwc_shared_tile<T, kK, kS>(s, input, weight, output, epilogue, stream);
      }
    }
    return launch_nhwc<T, kK, kS, 1>(s, input, weight, output, epilogue, stream);
  }
  return launch_nchw<T, kK, kS>(s, input, weight, output, epilogue, stream);
}

template <typename T>
cudaError_t launch_typed(const DepthwiseShape& s, const void* input, const void* weight, void* output,
                         const Epilogue& epilogue, DepthwiseForm form, cudaStream_t stream,
                         const DepthwiseSqueeze* squeeze_request = nullptr) {
  const T* in = static_cast<const T*>(input);
  const T* w = static_cast<const T*>(weight);
  T* out = static_cast<T*>(output);
  const TypedEpilogue<T> typed(epilogue);
  const bool aligned = aligned_16(input) && aligned_16(output) &&
                       (epilogue.residual == nullptr || aligned_16(epilogue.residual));
  const DepthwiseVariant variant = depthwise_variant(s, sizeof(T), aligned);
  if (form == DepthwiseForm::kTwoRows && !depthwise_two_rows_supported(s, sizeof(T), aligned)) return cudaErrorInvalidValue;
  if (form == DepthwiseForm::kSharedTile && !depthwise_shared_tile_supported(s, sizeof(T), aligned)) {
    return cudaErrorInvalidValue;
  }
  SqueezeOutput<T> squeeze{};
  if (squeeze_request != nullptr) {
    const DepthwiseSqueeze& q = *squeeze_request;
    if (q.w1 == nullptr || q.partials == nullptr || reinterpret_cast<uintptr_t>(q.partials) % sizeof(float) != 0 ||
        !depthwise_squeeze_supported(s, sizeof(T), aligned, form, q.hidden,
                                     reinterpret_cast<uintptr_t>(q.w1) % sizeof(ChannelVector<T>) == 0)) {
      return cudaErrorInvalidValue;
    }
    squeeze = {static_cast<const T*>(q.w1), q.hidden, 0, static_cast<compute_t<T>*>(q.partials)};
  }
  const SqueezeOutput<T>* with_squeeze = squeeze_request != nullptr ? &squeeze : nullptr;
  if (variant == DepthwiseVariant::kGeneric) return launch_generic<T>(s, in, w, out, typed, stream);
  switch (s.kernel_h * 10 + s.stride_h) {
    case 31: return launch_tiled<T, 3, 1>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    case 32: return launch_tiled<T, 3, 2>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    case 51: return launch_tiled<T, 5, 1>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    case 52: return launch_tiled<T, 5, 2>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    case 71: return launch_tiled<T, 7, 1>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    case 72: return launch_tiled<T, 7, 2>(variant, form, s, in, w, out, typed, stream, with_squeeze);
    default: return launch_generic<T>(s, in, w, out, typed, stream);
  }
}

}  // namespace

cudaError_t launch_depthwise_conv2d(ElementType type, const DepthwiseShape& shape, const void* input,
                                    const void* weight, void* output, const Epilogue& epilogue, cudaStream_t stream,
                                    DepthwiseForm form) {
  if (!depthwise_supported(shape)) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, input, weight, output, epilogue, form, stream);
  });
}

int depthwise_squeeze_slots(ElementType type, const DepthwiseShape& shape, DepthwiseForm form, int hidden,
                            bool vectors_aligned, bool w1_aligned) {
  const int bytes = element_size(type);
  if (!depthwise_squeeze_supported(shape, bytes, vectors_aligned, form, hidden, w1_aligned)) return 0;
  const int slots = form == DepthwiseForm::kSharedTile
                        ? shared_tile_slots(shape, bytes)
                        : nhwc_launch(shape, depthwise_nhwc_channels(bytes), form == DepthwiseForm::kTwoRows ? 2 : 1,
                                      true)
                              .squeeze_slots();
  // The excite kernel indexes the partials with an int (launch_excite refuses more).
  return int64_t(shape.batch) * slots * hidden <= INT_MAX ? slots : 0;
}

cudaError_t launch_depthwise_conv2d_squeeze(ElementType type, const DepthwiseShape& shape, const void* input,
                                            const void* weight, void* output, const Epilogue& epilogue,
                                            const DepthwiseSqueeze& squeeze, cudaStream_t stream, DepthwiseForm form) {
  if (!depthwise_supported(shape)) return cudaErrorInvalidValue;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_typed<typename decltype(tag)::type>(shape, input, weight, output, epilogue, form, stream, &squeeze);
  });
}

}  // namespace ifx::kernels
