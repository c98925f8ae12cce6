// What each kernel of csrc/kernels computes on, and which shapes it covers:
// plain structs and checks, free of CUDA and torch headers, so the kernel
// choice (csrc/ops/kernel_choice.h) and its tests compile on any machine.
#pragma once

#include <cstdint>

namespace ifx::kernels {

// A depthwise convolution (groups == in channels == out channels, weight
// [C, 1, KH, KW] contiguous), input and output both NCHW or both NHWC dense.
struct DepthwiseShape {
  int batch, channels, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  bool channels_last;
};

// True when the kernel handles `shape`: positive sizes and every index in
// 32 bits. Callers fall back to cuDNN otherwise.
inline bool depthwise_supported(const DepthwiseShape& s) {
  const int sizes[] = {s.batch,    s.channels, s.in_h,       s.in_w,       s.out_h,      s.out_w,
                       s.kernel_h, s.kernel_w, s.stride_h,   s.stride_w,   s.dilation_h, s.dilation_w};
  for (int size : sizes) {
    if (size <= 0) return false;
  }
  if (s.pad_h < 0 || s.pad_w < 0) return false;
  const int64_t input_elements = int64_t(s.batch) * s.channels * s.in_h * s.in_w;
  const int64_t output_elements = int64_t(s.batch) * s.channels * s.out_h * s.out_w;
  // Row and column offsets of taps also stay in int: ih <= in_h + pad_h etc.
  const int64_t tap_reach = int64_t(s.out_h) * s.stride_h + int64_t(s.kernel_h) * s.dilation_h +
                            int64_t(s.out_w) * s.stride_w + int64_t(s.kernel_w) * s.dilation_w;
  constexpr int64_t kIntMax = 2147483647;
  return input_elements <= kIntMax && output_elements <= kIntMax && tap_reach <= kIntMax;
}

// A 2-D max pooling over an NHWC-dense input [batch, in_h, in_w, channels]
// into an NHWC-dense output [batch, out_h, out_w, channels]; windows as
// aten::max_pool2d places them (out_h / out_w already include ceil_mode).
struct MaxPoolShape {
  int batch, channels, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// True when the kernel handles `shape`: positive sizes, padding of at most
// half a window (as ATen requires, so every window holds an input pixel) and
// every index in 32 bits. Callers fall back to ATen otherwise.
inline bool max_pool_supported(const MaxPoolShape& s) {
  const int sizes[] = {s.batch,    s.channels, s.in_h,     s.in_w,       s.out_h,     s.out_w,      s.kernel_h,
                       s.kernel_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w};
  for (int size : sizes) {
    if (size <= 0) return false;
  }
  if (s.pad_h < 0 || s.pad_w < 0 || s.pad_h > s.kernel_h / 2 || s.pad_w > s.kernel_w / 2) return false;
  constexpr int64_t kIntMax = 2147483647;
  const int64_t input_elements = int64_t(s.batch) * s.channels * s.in_h * s.in_w;
  const int64_t output_elements = int64_t(s.batch) * s.channels * s.out_h * s.out_w;
  const int64_t tap_reach = int64_t(s.out_h) * s.stride_h + int64_t(s.kernel_h) * s.dilation_h +
                            int64_t(s.out_w) * s.stride_w + int64_t(s.kernel_w) * s.dilation_w;
  return input_elements <= kIntMax && output_elements <= kIntMax && tap_reach <= kIntMax;
}

// output[m, n] = epilogue(sum_k input[m, k] * weight[n, k]), every matrix
// dense and row-major; the epilogue's channel is n and its residual is laid
// out like the output.
struct FewRowsMatmulShape {
  int rows, in_features, out_features;
};

// The rows one launch takes: each warp keeps a running sum per row in
// registers.
constexpr int kFewRowsMax = 8;

// True when the kernel handles `shape`: 1..kFewRowsMax rows, positive sizes,
// every index in 32 bits.
inline bool few_rows_matmul_supported(const FewRowsMatmulShape& s) {
  if (s.rows < 1 || s.rows > kFewRowsMax || s.in_features < 1 || s.out_features < 1) return false;
  constexpr int64_t kIntMax = 2147483647;
  return int64_t(s.out_features) * s.in_features <= kIntMax && int64_t(s.rows) * s.in_features <= kIntMax &&
         int64_t(s.rows) * s.out_features <= kIntMax;
}

// input [batch, in_channels, pixels] (NCHW) or [batch, pixels, in_channels]
// (channels_last), weight [out_channels, in_channels], output laid out like
// the input with out_channels; pixels = H * W. All dense.
struct PointwiseConvShape {
  int batch, in_channels, out_channels, pixels;
  bool channels_last;
};

// Output pixels and output channels per block.
constexpr int kPointwiseTile = 16;

// True when the kernel handles `shape`: positive sizes, every index in 32 bits.
inline bool pointwise_conv_supported(const PointwiseConvShape& s) {
  if (s.batch < 1 || s.in_channels < 1 || s.out_channels < 1 || s.pixels < 1) return false;
  constexpr int64_t kIntMax = 2147483647;
  const int64_t pixels = int64_t(s.batch) * s.pixels;
  return pixels * s.in_channels <= kIntMax && pixels * s.out_channels <= kIntMax &&
         int64_t(s.in_channels) * s.out_channels <= kIntMax &&
         (s.out_channels + kPointwiseTile - 1) / kPointwiseTile <= 65535;
}

}  // namespace ifx::kernels

// ---- Dense convolutions as CUTLASS implicit GEMMs (implicit_gemm_conv.h) ----

#include "element_type.h"

namespace ifx::kernels {

// A dense convolution (groups == 1) as CUTLASS's implicit GEMM: input NHWC
// [batch, in_h, in_w, in_channels], weight KRSC [out_channels, kernel_h,
// kernel_w, in_channels] (a PyTorch [K, C, R, S] weight in channels_last
// memory), output NHWC [batch, out_h, out_w, out_channels]; all dense.
// Padding is symmetric, as in PyTorch.
struct ImplicitGemmConvShape {
  int batch, in_h, in_w, in_channels, out_channels, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// How fp32 convolutions multiply. fp16 and bf16 always use tensor cores with
// fp32 accumulation and ignore it.
enum class ConvMath {
  kExact,  // fp32 FMAs on CUDA cores
  kTf32,   // TF32 tensor cores, one pass (cuDNN's default for fp32 convolutions)
};

// The threadblock tile. kLarge (128x128 outputs per block) for GEMMs with
// enough tiles to fill the GPU; kSmall (64x64) for few output pixels
// (M = batch * out_h * out_w) or channels, where kLarge would leave most SMs
// idle, e.g. batch-1 layers on 14x14 and 7x7 maps.
enum class ConvTile { kLarge, kSmall };

// Elements per vector access along the channels (C for input and weight, K
// for output, residual and bias) of the kernels for (type, math): the
// channel counts must be multiples of it and every pointer aligned to
// implicit_gemm_conv_alignment_bytes. 16-byte accesses on the tensor-core
// paths; the CUDA-core fp32 path loads one element at a time, so it takes any
// channel count (RGB input layers included). 0: not covered (fp64).
constexpr int implicit_gemm_conv_alignment(ElementType type, ConvMath math) {
  switch (type) {
    case ElementType::kFloat16:
    case ElementType::kBFloat16:
      return 8;
    case ElementType::kFloat32:
      return math == ConvMath::kTf32 ? 4 : 1;
    default:
      return 0;
  }
}

constexpr int implicit_gemm_conv_alignment_bytes(ElementType type, ConvMath math) {
  return implicit_gemm_conv_alignment(type, math) * element_size(type);
}

// Output channels one launch takes: CUTLASS puts the channel tiles (64 wide
// at least) in grid.y, which stops at 65535.
constexpr int kImplicitGemmConvMaxOutChannels = 65535 * 64;

// True when launch_implicit_gemm_conv handles `shape` for (type, math):
// positive sizes, out_h / out_w what the convolution gives, filters at most
// 32x32 (the iterators keep one mask bit per filter row and column), channel
// counts multiples of implicit_gemm_conv_alignment, and every tensor under
// 2^31 bytes (CUTLASS indexes them in 32 bits). The default math, kTf32, is
// the stricter fp32 rule, so a check without it holds for both modes.
inline bool implicit_gemm_conv_supported(ElementType type, const ImplicitGemmConvShape& s,
                                         ConvMath math = ConvMath::kTf32) {
  const int alignment = implicit_gemm_conv_alignment(type, math);
  if (alignment == 0) return false;
  const int sizes[] = {s.batch,    s.in_h,     s.in_w,     s.in_channels, s.out_channels, s.out_h,      s.out_w,
                       s.kernel_h, s.kernel_w, s.stride_h, s.stride_w,    s.dilation_h,   s.dilation_w};
  for (int size : sizes) {
    if (size <= 0) return false;
  }
  if (s.pad_h < 0 || s.pad_w < 0) return false;
  if (s.kernel_h > 32 || s.kernel_w > 32) return false;
  if (s.in_channels % alignment != 0 || s.out_channels % alignment != 0) return false;
  if (s.out_channels > kImplicitGemmConvMaxOutChannels) return false;

  const int64_t reach_h = int64_t(s.kernel_h - 1) * s.dilation_h + 1;
  const int64_t reach_w = int64_t(s.kernel_w - 1) * s.dilation_w + 1;
  const int64_t padded_h = int64_t(s.in_h) + 2 * int64_t(s.pad_h);
  const int64_t padded_w = int64_t(s.in_w) + 2 * int64_t(s.pad_w);
  if (padded_h < reach_h || padded_w < reach_w) return false;
  if (s.out_h != (padded_h - reach_h) / s.stride_h + 1 || s.out_w != (padded_w - reach_w) / s.stride_w + 1) {
    return false;
  }

  // The same bound as CUTLASS's can_implement: bytes strictly below 2^31.
  // Checked after every factor, so the product never overflows.
  const auto under_2g = [&](int a, int b, int c, int d) {
    constexpr int64_t kLimit = int64_t(1) << 31;
    int64_t bytes = element_size(type);
    const int factors[] = {a, b, c, d};
    for (int factor : factors) {
      bytes *= factor;
      if (bytes >= kLimit) return false;
    }
    return true;
  };
  return under_2g(s.batch, s.in_h, s.in_w, s.in_channels) &&
         under_2g(s.out_channels, s.kernel_h, s.kernel_w, s.in_channels) &&
         under_2g(s.batch, s.out_h, s.out_w, s.out_channels);
}

// The most parts launch_implicit_gemm_conv_split_k cuts a reduction into.
constexpr int kImplicitGemmSplitKMaxSlices = 32;

// A starting heuristic for the tile (to be tuned on the GPU): kLarge once its
// 128x128 output tiles alone give every SM a block, kSmall below that.
inline ConvTile implicit_gemm_conv_tile(const ImplicitGemmConvShape& s, int sm_count) {
  const int64_t rows = int64_t(s.batch) * s.out_h * s.out_w;
  const int64_t large_tiles = ((rows + 127) / 128) * ((int64_t(s.out_channels) + 127) / 128);
  return large_tiles >= sm_count ? ConvTile::kLarge : ConvTile::kSmall;
}

}  // namespace ifx::kernels

// ---- Matrix products with the epilogue inside, on Hopper (hopper_gemm.h) ----
// A 1x1 stride-1 convolution over NHWC activations is the product
// [pixels, C] x [K, C]^T; these kernels run it (and any such product) with
// bias, residual and activation in the same kernel.

namespace ifx::kernels {

// out[rows, cols] = activation(a[rows, depth] . b[cols, depth]^T + bias[cols] + residual[rows, cols]),
// every matrix row-major and dense.
struct HopperGemmShape {
  int rows, depth, cols;
};

// The output tile of one block (rows x cols) and the warp-group schedule:
// 64-row tiles run "ping-pong" (two warp groups take turns, one in its
// epilogue while the other multiplies), the 128x256 tile "cooperative" (two
// warp groups share one tile). Which one is fastest depends on the shape;
// the op times them on first use.
#define IFX_HOPPER_GEMM_TILES(X)                      \
  X(Tile64x64, "64x64")   /* few output columns */   \
  X(Tile64x128, "64x128") /* up to 128 columns */    \
  X(Tile128x256, "128x256") /* wide, long products */

enum class HopperGemmTile {
#define IFX_HOPPER_GEMM_TILE_ENUM(name, text) k##name,
  IFX_HOPPER_GEMM_TILES(IFX_HOPPER_GEMM_TILE_ENUM)
#undef IFX_HOPPER_GEMM_TILE_ENUM
};

// True when launch_hopper_gemm handles (type, math, shape): fp16 or bf16, or
// fp32 on TF32 tensor cores (there is no exact-fp32 Hopper tensor-core
// product); depth and cols multiples of 16 bytes' worth of elements (the
// tensor-memory-access copies need 16-byte row strides), positive sizes, and
// each matrix under 2^31 elements.
inline bool hopper_gemm_supported(ElementType type, ConvMath math, const HopperGemmShape& s) {
  const bool type_fits = type == ElementType::kFloat16 || type == ElementType::kBFloat16 ||
                         (type == ElementType::kFloat32 && math == ConvMath::kTf32);
  if (!type_fits) return false;
  if (s.rows <= 0 || s.depth <= 0 || s.cols <= 0) return false;
  const int alignment = 16 / element_size(type);
  if (s.depth % alignment != 0 || s.cols % alignment != 0) return false;
  constexpr int64_t kLimit = int64_t(1) << 31;
  return int64_t(s.rows) * s.depth < kLimit && int64_t(s.rows) * s.cols < kLimit && int64_t(s.cols) * s.depth < kLimit;
}

}  // namespace ifx::kernels

// ---- Depthwise convolution: which kernel takes a shape (depthwise_conv_kernels.h) ----

namespace ifx::kernels {

// The depthwise kernels. The tiled ones unroll the filter at compile time and
// give each thread several outputs, so that every input load serves several
// of them; the generic one (one output per thread, sizes read at run time)
// takes everything else.
enum class DepthwiseVariant {
  kChannelsLastTiled,  // NHWC: a 16-byte vector of channels by a strip of output columns per thread
  kPlanarTiled,        // NCHW: a patch of 4 output rows by 2 columns of one channel per thread
  kGeneric,
};

// What the tiled kernels are compiled for: square 3x3, 5x5 or 7x7 filters,
// the same stride (1 or 2) along both axes, no dilation. The depthwise layers
// of MobileNetV2 / V3 and EfficientNet are all of these.
inline bool depthwise_tiled_geometry(const DepthwiseShape& s) {
  const bool filter = s.kernel_h == s.kernel_w && (s.kernel_h == 3 || s.kernel_h == 5 || s.kernel_h == 7);
  const bool stride = s.stride_h == s.stride_w && (s.stride_h == 1 || s.stride_h == 2);
  return filter && stride && s.dilation_h == 1 && s.dilation_w == 1;
}

// Channels per thread of the NHWC kernel, moved as one access: 16 bytes of
// fp32 / fp64, but 4 channels (8 bytes) of a 16-bit type. With 8 16-bit
// channels a thread held twice the fp32 kernel's accumulators (99 registers,
// half its threads per multiprocessor), and the 16-bit kernel took longer than
// the fp32 one on the same layer for half the bytes (docs/benchmarks.md,
// "Depthwise convs, per shape").
constexpr int depthwise_nhwc_channels(int element_bytes) { return element_bytes == 2 ? 4 : 16 / element_bytes; }

// The variant launch_depthwise_conv2d runs for `s`. `element_bytes` is 2, 4
// or 8; `vectors_aligned` says that input, output and residual (if any)
// start on 16 bytes (more than the 8 a 16-bit vector needs). The NHWC kernel
// moves whole vectors of channels, so it needs whole vectors per pixel;
// grid.y counts its channel groups (at least 12 vectors each), which stops at 65535.
inline DepthwiseVariant depthwise_variant(const DepthwiseShape& s, int element_bytes, bool vectors_aligned) {
  if (!depthwise_supported(s) || !depthwise_tiled_geometry(s)) return DepthwiseVariant::kGeneric;
  if (!s.channels_last) return DepthwiseVariant::kPlanarTiled;
  const int vector = depthwise_nhwc_channels(element_bytes);
  const bool vectors = vectors_aligned && s.channels % vector == 0 && s.channels / vector <= 65535 * 12;
  return vectors ? DepthwiseVariant::kChannelsLastTiled : DepthwiseVariant::kGeneric;
}

// How the NHWC kernel (kChannelsLastTiled) works through a layer:
// - kOneRow: each thread computes a strip of one output row, loading its
//   inputs from global memory (L2 serves the rows its neighbours re-read).
// - kTwoRows: two output rows per strip, a 3x3 filter's 9 taps of the
//   thread's channels in registers, so that one loaded input row serves two
//   output rows: 4 input rows loaded per 2 output rows at stride 1 where
//   kOneRow loads 3 per row. About twice the registers (118-128 against
//   60-76), so fewer threads per multiprocessor.
// - kSharedTile: a block stages its input tile (8 output rows by 16 columns
//   at stride 1, 8 at stride 2, of 32 channels of a 16-bit type or 16 of
//   fp32, plus the halo) in shared memory once, and its threads compute
//   kOneRow's strips from there: each input element crosses L2 1.1-1.9
//   times (3x3 and 5x5 filters) instead of about 4.5. Measured (H100): the
//   fastest form on most 14x14 and 7x7 layers at batch 1 and 8, slower than
//   kOneRow on every large map at batch 64 (docs/benchmarks.md, "Sixth GPU
//   session"). 16-bit types and fp32.
// The first-call tuning times the forms a layer has (ops/kernel_choice.h).
enum class DepthwiseForm { kOneRow, kTwoRows, kSharedTile };

// True when kTwoRows takes `s`: the NHWC tiled variant with a 3x3 filter, in fp32
// or fp64. In 16 bits it was slower than kOneRow on every 3x3 layer of
// mobilenet_v3_large and efficientnet_b0 (6-18% at batch 64, 27-40% at batch
// 1, H100); in fp32 it was 3-14% faster on the 112x112, 56x56 and stride-2
// 28x28 layers at batch 64 (docs/benchmarks.md, "Depthwise, two rows").
inline bool depthwise_two_rows_supported(const DepthwiseShape& s, int element_bytes, bool vectors_aligned) {
  return element_bytes >= 4 && s.kernel_h == 3 &&
         depthwise_variant(s, element_bytes, vectors_aligned) == DepthwiseVariant::kChannelsLastTiled;
}

// True when kSharedTile takes `s`: the NHWC tiled variant in a 16-bit type or
// fp32. A block stages 64 bytes of channels per pixel (32 or 16 channels) of
// up to 21x21 pixels: at most 42 KB of shared memory; fp64's 2-channel
// vectors would leave too few threads per block.
inline bool depthwise_shared_tile_supported(const DepthwiseShape& s, int element_bytes, bool vectors_aligned) {
  return element_bytes <= 4 && s.channels <= 65535 * (64 / element_bytes) &&  // grid.y counts channel groups
         depthwise_variant(s, element_bytes, vectors_aligned) == DepthwiseVariant::kChannelsLastTiled;
}

// True when the NHWC kernel's `form` can also leave the squeeze of a
// squeeze-and-excitation block that reads its output (fc1's partial products
// of the channel means, launch_depthwise_conv2d_squeeze): the form itself
// takes `s`, the type is 16-bit or fp32 (the partials are float), `hidden`
// is within what the excite kernel takes, and fc1's weight [hidden, C] starts
// on a channel vector (`w1_aligned`). Saves the squeeze kernel and its
// second read of the conv's output.
inline bool depthwise_squeeze_supported(const DepthwiseShape& s, int element_bytes, bool vectors_aligned,
                                        DepthwiseForm form, int hidden, bool w1_aligned) {
  if (element_bytes > 4 || hidden < 1 || hidden > 4096 || !w1_aligned) return false;
  if (int64_t(s.channels) * hidden > 2147483647) return false;
  switch (form) {
    case DepthwiseForm::kOneRow:
      return depthwise_variant(s, element_bytes, vectors_aligned) == DepthwiseVariant::kChannelsLastTiled;
    case DepthwiseForm::kTwoRows: return depthwise_two_rows_supported(s, element_bytes, vectors_aligned);
    case DepthwiseForm::kSharedTile: return depthwise_shared_tile_supported(s, element_bytes, vectors_aligned);
  }
  return false;
}

}  // namespace ifx::kernels

// ---- Squeeze-and-excitation in two kernels (squeeze_excite_kernels.h) ----

#include <cstddef>

namespace ifx::kernels {

// y = x * gate(fc2(act1(fc1(mean over the pixels of x)))) per image: x and y
// [batch, channels, pixels] (NCHW-dense, pixels = H * W) or [batch, pixels,
// channels] (channels_last), fc1 weight [hidden, channels], fc2 weight
// [channels, hidden], all dense.
struct SqueezeExciteShape {
  int batch, channels, hidden, pixels;
  bool channels_last;
};

// Bounds of the plan below: images per block (their fc weights are read once
// for all of them), channels per block, and the hidden units kernel 2 keeps
// in shared memory for all its images.
constexpr int kSqueezeExciteMaxImages = 4;
constexpr int kSqueezeExciteMaxChannels = 128;
constexpr int kSqueezeExciteMaxHidden = 4096;

// How the two kernels split the work; a function of the shape alone, so that
// the workspace size needs no device. Kernel 1 (squeeze) blocks take `images`
// images by `squeeze_channels` channels by `squeeze_pixels` pixels; kernel 2
// (excite) blocks take `images` by `excite_channels` by `excite_pixels`.
// `partials`: the fc1 partial vectors (hidden values each) kernel 1 leaves
// per image, one per (channel chunk, pixel chunk) of its grid.
// The gate kernel of the three-kernel form (SqueezeExciteGates below) takes
// `images` by `gate_channels` over all pixels.
struct SqueezeExcitePlan {
  int images;
  int squeeze_channels, squeeze_pixels;
  int excite_channels, excite_pixels;
  int gate_channels;
  int partials;
};

inline int64_t squeeze_excite_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int squeeze_excite_round8(int64_t v) { return static_cast<int>((v + 7) / 8 * 8); }

// Blocks: about two per multiprocessor of an H200 (132) or more, none under
// 2048 elements of x (below that the fixed costs of a block dominate), and
// at most 4096 partial values per image for kernel 2's blocks to add up.
// Channel chunks stay multiples of 8 (whole 16-byte vectors for every type)
// and at least 32 wide where the layer has that many; pixel chunks are
// multiples of 8 too, so NCHW chunks start on a vector.
inline SqueezeExcitePlan squeeze_excite_plan(const SqueezeExciteShape& s) {
  constexpr int64_t kTargetBlocks = 264;
  constexpr int64_t kMinBlockElements = 2048;
  constexpr int64_t kMaxPartialValues = 4096;
  SqueezeExcitePlan p{};
  // Images share a block only where the fc weights outweigh the x they serve
  // (hidden >= pixels / 8: the 14x14 and 7x7 layers) and the batch is big
  // enough to keep the GPU busy with fewer blocks.
  p.images = 1;
  if (s.batch >= 8 && int64_t(s.hidden) * 8 >= s.pixels) {
    if (s.batch >= 16 && s.hidden <= kSqueezeExciteMaxHidden / 4) {
      p.images = 4;
    } else if (s.hidden <= kSqueezeExciteMaxHidden / 2) {
      p.images = 2;
    }
  }
  const int64_t groups = squeeze_excite_ceil_div(s.batch, p.images);
  const auto chunks = [&](int width) { return squeeze_excite_ceil_div(s.channels, width); };
  const auto narrower = [](int width) {
    const int half = squeeze_excite_round8((width + 1) / 2);
    return half < 32 ? 32 : half;
  };
  const auto pixel_split = [&](int64_t blocks, int width, int64_t cap) {
    if (blocks >= kTargetBlocks) return int64_t(1);
    int64_t split = squeeze_excite_ceil_div(kTargetBlocks, blocks);
    const int64_t channels = width < s.channels ? width : s.channels;
    const int64_t by_size = int64_t(p.images) * channels * s.pixels / kMinBlockElements;
    if (split > by_size) split = by_size;
    if (split > cap) split = cap;
    return split < 1 ? int64_t(1) : split;
  };
  const int widest = squeeze_excite_round8(s.channels < kSqueezeExciteMaxChannels ? s.channels
                                                                                  : kSqueezeExciteMaxChannels);

  int width = widest;
  while (width > 32 && groups * chunks(width) < kTargetBlocks &&
         chunks(narrower(width)) * s.hidden <= kMaxPartialValues) {
    width = narrower(width);
  }
  const int64_t split1 =
      pixel_split(groups * chunks(width), width, kMaxPartialValues / (chunks(width) * int64_t(s.hidden)));
  p.squeeze_channels = width;
  p.squeeze_pixels = squeeze_excite_round8(squeeze_excite_ceil_div(s.pixels, split1));
  p.partials = static_cast<int>(chunks(width) * squeeze_excite_ceil_div(s.pixels, p.squeeze_pixels));

  width = widest;
  while (width > 32 && groups * chunks(width) < kTargetBlocks) width = narrower(width);
  const int64_t split2 = pixel_split(groups * chunks(width), width, s.pixels);
  p.excite_channels = width;
  p.excite_pixels = squeeze_excite_round8(squeeze_excite_ceil_div(s.pixels, split2));

  // The gate kernel's blocks each add their images' partials once for all their channels, so they
  // take the widest even chunks, narrower only while there is not one block per multiprocessor.
  constexpr int64_t kGateTargetBlocks = 132;
  width = squeeze_excite_round8(squeeze_excite_ceil_div(s.channels, chunks(kSqueezeExciteMaxChannels)));
  while (width > 32 && groups * chunks(width) < kGateTargetBlocks) width = narrower(width);
  p.gate_channels = width;
  return p;
}

// True when launch_squeeze_excite handles `s`: positive sizes, at most
// kSqueezeExciteMaxHidden hidden units, every index (x, the fc weights, the
// workspace) in 32 bits.
inline bool squeeze_excite_supported(const SqueezeExciteShape& s) {
  if (s.batch < 1 || s.channels < 1 || s.hidden < 1 || s.pixels < 1) return false;
  if (s.hidden > kSqueezeExciteMaxHidden) return false;
  constexpr int64_t kIntMax = 2147483647;
  if (int64_t(s.batch) * s.channels * s.pixels > kIntMax) return false;
  if (int64_t(s.channels) * s.hidden > kIntMax) return false;
  return int64_t(s.batch) * squeeze_excite_plan(s).partials * s.hidden <= kIntMax;
}

// Where the block's gates are computed. kInExciteBlocks: every block of the
// excite kernel computes the gates of its tile, then scales it (two kernels
// with the squeeze). kGateKernel: a kernel of its own computes every image's
// gates once, then a streaming kernel scales x (three kernels): at large
// batch the excite blocks' serial gate work costs more than the extra launch
// (kernel_choice.cpp chooses).
enum class SqueezeExciteGates { kInExciteBlocks, kGateKernel };

// The gates kGateKernel leaves between its kernels: one value per (image,
// channel), 8 bytes each whatever the element type (float for 16-bit and fp32
// types, double for fp64).
inline size_t squeeze_excite_gate_bytes(const SqueezeExciteShape& s) {
  return size_t(s.batch) * size_t(s.channels) * sizeof(double);
}

// The workspace launch_squeeze_excite needs: the fc1 partial sums, one value
// per (image, partial, hidden unit), 8 bytes each whatever the element type,
// then the gates where a gate kernel computes them. No part of it needs
// initializing.
inline size_t squeeze_excite_workspace_bytes(const SqueezeExciteShape& s, SqueezeExciteGates gates) {
  const size_t partials = size_t(s.batch) * size_t(squeeze_excite_plan(s).partials) * size_t(s.hidden) * sizeof(double);
  return partials + (gates == SqueezeExciteGates::kGateKernel ? squeeze_excite_gate_bytes(s) : 0);
}

}  // namespace ifx::kernels
