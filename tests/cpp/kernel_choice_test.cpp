// choose_conv_path / choose_linear_path (csrc/ops/kernel_choice.h): one row per
// rule and per edge of each threshold, and what an override may force. Pure
// functions: this runs on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/launch.h"
#include "ops/kernel_choice.h"

namespace ifx_test {
namespace {

using ifx::kernels::Activation;
using ifx::kernels::ElementType;
using ifx::ops::ConvCall;
using ifx::ops::ConvPath;
using ifx::ops::KernelOverride;
using ifx::ops::LinearCall;
using ifx::ops::LinearPath;
using ifx::ops::KernelPolicy;
using ifx::ops::MathFlags;

// A conv of `in` -> `out` channels on an h x w map with a square kernel.
ConvCall conv(int64_t batch, int64_t in, int64_t out, int64_t h, int64_t w, int64_t kernel, int64_t stride,
              int64_t groups, ElementType dtype, bool channels_last, Activation activation, bool bias = true) {
  ConvCall c;
  c.dtype = dtype;
  c.channels_last = channels_last;
  c.batch = batch;
  c.in_channels = in;
  c.out_channels = out;
  c.in_h = h;
  c.in_w = w;
  c.kernel_h = c.kernel_w = kernel;
  c.stride_h = c.stride_w = stride;
  c.pad_h = c.pad_w = kernel / 2;
  c.out_h = (h + 2 * c.pad_h - kernel) / stride + 1;
  c.out_w = (w + 2 * c.pad_w - kernel) / stride + 1;
  c.groups = groups;
  c.has_bias = bias;
  c.activation = activation;
  return c;
}

constexpr ElementType kF32 = ElementType::kFloat32;
constexpr ElementType kF16 = ElementType::kFloat16;
constexpr ElementType kBF16 = ElementType::kBFloat16;
constexpr ElementType kF64 = ElementType::kFloat64;

struct ConvRow {
  const char* why;
  ConvCall call;
  ConvPath expected;
};

TEST(KernelChoice, ConvRules) {
  ConvCall no_kernels = conv(1, 8, 8, 7, 7, 3, 1, 1, kF32, false, Activation::kRelu);
  no_kernels.kernels_apply = false;
  ConvCall unaligned_residual = conv(8, 64, 64, 56, 56, 3, 1, 1, kF16, true, Activation::kRelu);
  unaligned_residual.has_residual = true;
  unaligned_residual.residual_aligned = false;
  const std::vector<ConvRow> rows = {
      {"preconditions fail: the ATen composition", no_kernels, ConvPath::kAten},
      {"depthwise, batch 1", conv(1, 240, 240, 14, 14, 5, 1, 240, kF32, false, Activation::kHardswish),
       ConvPath::kDepthwise},
      {"depthwise fp16 channels_last, 2^20 outputs", conv(16, 64, 64, 32, 32, 3, 1, 64, kF16, true, Activation::kRelu),
       ConvPath::kDepthwise},
      {"depthwise fp16 channels_last, past 2^20 outputs",
       conv(17, 64, 64, 32, 32, 3, 1, 64, kF16, true, Activation::kRelu), ConvPath::kCudnnThenEpilogue},
      {"depthwise bf16 NCHW, big: still ours", conv(64, 64, 64, 56, 56, 3, 1, 64, kBF16, false, Activation::kRelu),
       ConvPath::kDepthwise},
      {"grouped, not depthwise", conv(1, 64, 64, 14, 14, 3, 1, 32, kF32, false, Activation::kRelu, false),
       ConvPath::kCudnnThenEpilogue},
      {"1x1 on a 1x1 map, 8 KB of input", conv(8, 256, 64, 1, 1, 1, 1, 1, kF32, false, Activation::kRelu),
       ConvPath::kFewRowsMatmul},
      {"1x1 on a 1x1 map, over 8 KB: pointwise instead (expanding fp32)",
       conv(8, 257, 1024, 1, 1, 1, 1, 1, kF32, false, Activation::kHardsigmoid), ConvPath::kPointwise},
      {"1x1 on a 1x1 map, 9 images: past the few-rows kernel",
       conv(9, 64, 256, 1, 1, 1, 1, 1, kF16, true, Activation::kHardsigmoid), ConvPath::kPointwise},
      {"1x1 on a 1x1 map, fp16 narrowing: cuDNN", conv(64, 960, 240, 1, 1, 1, 1, 1, kF16, true, Activation::kRelu, false),
       ConvPath::kCudnnThenEpilogue},
      {"1x1 fp16, 16M multiply-adds", conv(1, 256, 64, 32, 32, 1, 1, 1, kF16, true, Activation::kHardswish),
       ConvPath::kPointwise},
      {"1x1 fp16, cuDNN fuses the relu", conv(1, 256, 64, 32, 32, 1, 1, 1, kF16, true, Activation::kRelu),
       ConvPath::kCudnnFusedRelu},
      {"1x1 fp16, no bias: cuDNN cannot fuse, ours", conv(1, 256, 64, 32, 32, 1, 1, 1, kF16, true, Activation::kRelu, false),
       ConvPath::kPointwise},
      {"1x1 fp32, 32 input channels, 32M", conv(1, 32, 256, 64, 64, 1, 1, 1, kF32, false, Activation::kHardswish),
       ConvPath::kPointwise},
      {"1x1 fp32, 16 input channels, not narrowing", conv(1, 16, 96, 28, 28, 1, 1, 1, kF32, false, Activation::kRelu),
       ConvPath::kCudnnFusedRelu},
      {"1x1 fp32 narrowing on 1024 pixels, 63M", conv(1, 960, 64, 32, 32, 1, 1, 1, kF32, false, Activation::kNone),
       ConvPath::kPointwise},
      {"1x1 fp32 over 4096 pixels", conv(2, 64, 64, 64, 33, 1, 1, 1, kF32, false, Activation::kHardswish),
       ConvPath::kCudnnThenEpilogue},
      {"1x1 stride 2 is no pointwise conv", conv(1, 64, 128, 28, 28, 1, 2, 1, kF32, false, Activation::kNone),
       ConvPath::kCudnnThenEpilogue},
      {"dense 3x3 with bias + relu fp32", conv(1, 64, 64, 56, 56, 3, 1, 1, kF32, false, Activation::kRelu),
       ConvPath::kCudnnFusedRelu},
      {"dense 3x3 relu bf16: no fused engine", conv(1, 64, 64, 56, 56, 3, 1, 1, kBF16, true, Activation::kRelu),
       ConvPath::kCudnnThenEpilogue},
      {"dense 3x3 relu fp64", conv(1, 64, 64, 56, 56, 3, 1, 1, kF64, false, Activation::kRelu),
       ConvPath::kCudnnThenEpilogue},
      {"dense 3x3 hardswish", conv(1, 16, 16, 112, 112, 3, 2, 1, kF16, true, Activation::kHardswish),
       ConvPath::kCudnnThenEpilogue},
      {"residual off the 16-byte grid", unaligned_residual, ConvPath::kCudnnThenEpilogue},
  };
  for (const ConvRow& row : rows) {
    EXPECT_EQ(ifx::ops::path_name(ifx::ops::choose_conv_path(row.call, MathFlags{}, KernelOverride{})),
              std::string(ifx::ops::path_name(row.expected)))
        << row.why;
  }
}

// What CUTLASS's implicit GEMM reads in place: NHWC activations and a KRSC weight.
ConvCall implicit_gemm_ready(ConvCall c) {
  c.weight_channels_last = true;
  return c;
}

TEST(KernelChoice, ImplicitGemmTakesDenseChannelsLastConvs) {
  const MathFlags flags{true, true, 132};
  // Big maps fill the GPU with 128x128 tiles; 7x7 at batch 1 takes the small ones.
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(64, 64, 64, 56, 56, 3, 1, 1, kF16, true, Activation::kHardswish)), flags, {}),
            ConvPath::kImplicitGemm);
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(1, 512, 512, 7, 7, 3, 1, 1, kBF16, true, Activation::kSilu)), flags, {}),
            ConvPath::kImplicitGemmSmall);
  // cuDNN's one fused relu kernel stays the rule for relu with a bias.
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(64, 64, 64, 56, 56, 3, 1, 1, kF16, true, Activation::kRelu)), flags, {}),
            ConvPath::kCudnnFusedRelu);
  // Not covered: NCHW output, a weight not in KRSC memory, 3 input channels on tensor cores, fp64.
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(64, 64, 64, 56, 56, 3, 1, 1, kF16, false, Activation::kHardswish)), flags, {}),
            ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(ifx::ops::choose_conv_path(conv(64, 64, 64, 56, 56, 3, 1, 1, kF16, true, Activation::kHardswish), flags, {}),
            ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(8, 3, 16, 224, 224, 3, 2, 1, kF16, true, Activation::kHardswish)), flags, {}),
            ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(ifx::ops::choose_conv_path(
                implicit_gemm_ready(conv(8, 64, 64, 28, 28, 3, 1, 1, kF64, true, Activation::kHardswish)), flags, {}),
            ConvPath::kCudnnThenEpilogue);
  ConvCall unaligned = implicit_gemm_ready(conv(64, 64, 64, 56, 56, 3, 1, 1, kF16, true, Activation::kHardswish));
  unaligned.operands_aligned = false;
  EXPECT_EQ(ifx::ops::choose_conv_path(unaligned, flags, {}), ConvPath::kCudnnThenEpilogue);
}

TEST(KernelChoice, ImplicitGemmMathFollowsTorchsTf32Flag) {
  const ConvCall fp32 = implicit_gemm_ready(conv(8, 3, 16, 224, 224, 3, 2, 1, kF32, true, Activation::kHardswish));
  EXPECT_EQ(ifx::ops::implicit_gemm_math(fp32, MathFlags{true, true, 132}), ifx::kernels::ConvMath::kTf32);
  EXPECT_EQ(ifx::ops::implicit_gemm_math(fp32, MathFlags{true, false, 132}), ifx::kernels::ConvMath::kExact);
  EXPECT_EQ(ifx::ops::implicit_gemm_math(conv(1, 8, 8, 7, 7, 3, 1, 1, kF16, true, Activation::kNone),
                                         MathFlags{true, false, 132}),
            ifx::kernels::ConvMath::kTf32);
  // 3 input channels: only exact fp32 (one element per access) takes the RGB stem.
  EXPECT_EQ(ifx::ops::choose_conv_path(fp32, MathFlags{true, false, 132}, {}), ConvPath::kImplicitGemm);
  EXPECT_EQ(ifx::ops::choose_conv_path(fp32, MathFlags{true, true, 132}, {}), ConvPath::kCudnnThenEpilogue);
}

bool covers(const ConvCall& call, const MathFlags& flags, ConvPath path) {
  const auto paths = ifx::ops::conv_paths_covering(call, flags);
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

TEST(KernelChoice, HopperGemmTakesAligned1x1StrideOneChannelsLastConvsOnHopper) {
  const MathFlags hopper{true, true, 132, true};
  const ConvCall fp16 = conv(64, 16, 96, 112, 112, 1, 1, 1, kF16, true, Activation::kSilu);
  const ConvPath tiles[] = {ConvPath::kHopperGemm64x64, ConvPath::kHopperGemm64x128, ConvPath::kHopperGemm128x256};
  // Covered, and timed on first use beside cuDNN + the epilogue: each tile is the fastest on some
  // layers and not on others.
  const auto candidates = ifx::ops::conv_candidates(fp16, hopper);
  for (ConvPath tile : tiles) {
    EXPECT_TRUE(covers(fp16, hopper, tile)) << ifx::ops::path_name(tile);
    EXPECT_NE(std::find(candidates.begin(), candidates.end(), tile), candidates.end()) << ifx::ops::path_name(tile);
    KernelOverride forced;
    forced.conv = tile;
    EXPECT_EQ(ifx::ops::choose_conv_path(fp16, hopper, forced), tile);
  }
  // The product: [pixels, C] x [K, C]^T.
  const ifx::kernels::HopperGemmShape shape = ifx::ops::hopper_gemm_shape(fp16);
  EXPECT_EQ(shape.rows, 64 * 112 * 112);
  EXPECT_EQ(shape.depth, 16);
  EXPECT_EQ(shape.cols, 96);
  EXPECT_EQ(ifx::ops::hopper_gemm_tile(ConvPath::kHopperGemm64x64), ifx::kernels::HopperGemmTile::kTile64x64);
  EXPECT_EQ(ifx::ops::hopper_gemm_tile(ConvPath::kHopperGemm64x128), ifx::kernels::HopperGemmTile::kTile64x128);
  EXPECT_EQ(ifx::ops::hopper_gemm_tile(ConvPath::kHopperGemm128x256), ifx::kernels::HopperGemmTile::kTile128x256);

  struct Row {
    const char* why;
    ConvCall call;
    MathFlags flags;
    bool covered;
  };
  ConvCall unaligned = fp16;
  unaligned.operands_aligned = false;
  ConvCall padded = fp16;
  padded.pad_h = padded.pad_w = 1;
  padded.out_h = padded.out_w = 114;
  const Row rows[] = {
      {"not a Hopper GPU, or no sm_90a code", fp16, MathFlags{true, true, 132, false}, false},
      {"bf16", conv(8, 64, 256, 28, 28, 1, 1, 1, kBF16, true, Activation::kNone), hopper, true},
      {"fp32 under TF32, 4-channel multiples", conv(8, 12, 20, 28, 28, 1, 1, 1, kF32, true, Activation::kHardswish),
       hopper, true},
      {"fp32 with TF32 off: no exact-fp32 product", conv(8, 64, 64, 28, 28, 1, 1, 1, kF32, true, Activation::kNone),
       MathFlags{true, false, 132, true}, false},
      {"fp64", conv(8, 64, 64, 28, 28, 1, 1, 1, kF64, true, Activation::kNone), hopper, false},
      {"NCHW output", conv(8, 64, 64, 28, 28, 1, 1, 1, kF16, false, Activation::kNone), hopper, false},
      {"stride 2", conv(8, 64, 64, 28, 28, 1, 2, 1, kF16, true, Activation::kNone), hopper, false},
      {"3x3", conv(8, 64, 64, 28, 28, 3, 1, 1, kF16, true, Activation::kNone), hopper, false},
      {"padded 1x1", padded, hopper, false},
      {"12 fp16 channels: rows off the 16-byte grid", conv(8, 12, 64, 28, 28, 1, 1, 1, kF16, true, Activation::kNone),
       hopper, false},
      {"operands off the 16-byte grid", unaligned, hopper, false},
  };
  for (const Row& row : rows) {
    for (ConvPath tile : tiles) EXPECT_EQ(covers(row.call, row.flags, tile), row.covered) << row.why;
  }
}

TEST(KernelChoice, HopperGemmShapesStayUnder2To31Elements) {
  using ifx::kernels::ConvMath;
  using ifx::kernels::hopper_gemm_supported;
  EXPECT_TRUE(hopper_gemm_supported(kF16, ConvMath::kTf32, {1 << 20, 1024, 1024}));
  EXPECT_FALSE(hopper_gemm_supported(kF16, ConvMath::kTf32, {1 << 21, 1024, 8}));  // input of 2^31 elements
  EXPECT_FALSE(hopper_gemm_supported(kF16, ConvMath::kTf32, {1 << 21, 8, 1024}));  // output of 2^31 elements
  EXPECT_FALSE(hopper_gemm_supported(kF16, ConvMath::kTf32, {0, 8, 8}));
  EXPECT_TRUE(hopper_gemm_supported(kF32, ConvMath::kTf32, {7, 4, 4}));
  EXPECT_FALSE(hopper_gemm_supported(kF32, ConvMath::kExact, {7, 4, 4}));
  EXPECT_FALSE(hopper_gemm_supported(kBF16, ConvMath::kTf32, {7, 4, 8}));  // 8-byte rows
}

TEST(KernelChoice, TuningTimesTheCandidatesOnceAndKeepsTheFastest) {
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const ConvCall call = implicit_gemm_ready(conv(8, 64, 64, 28, 28, 3, 1, 1, kF16, true, Activation::kHardswish));
  const auto candidates = ifx::ops::conv_candidates(call, flags);
  ASSERT_GE(candidates.size(), 3u);
  EXPECT_EQ(candidates.front(), ifx::ops::choose_conv_path(call, flags, {}));  // the rules' choice first
  int timed = 0;
  const auto fake_times = [&](ConvPath path) {
    ++timed;
    return path == ConvPath::kCudnnThenEpilogue ? 10.0 : 20.0;
  };
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, fake_times), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(timed, static_cast<int>(candidates.size()));
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, fake_times), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(timed, static_cast<int>(candidates.size()));  // the second call measures nothing
  ConvCall other = call;
  other.batch = 9;  // another shape is tuned on its own
  ifx::ops::tuned_conv_path(other, flags, fake_times);
  EXPECT_EQ(timed, 2 * static_cast<int>(candidates.size()));
  // Without a clock (a capturing stream): the tuned path where the key is
  // known, else the rules' choice, remembered for no one.
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, nullptr), ConvPath::kCudnnThenEpilogue);
  ConvCall untimed = call;
  untimed.batch = 10;
  EXPECT_EQ(ifx::ops::tuned_conv_path(untimed, flags, nullptr), candidates.front());
  ifx::ops::tuned_conv_path(untimed, flags, fake_times);
  EXPECT_EQ(timed, 3 * static_cast<int>(candidates.size()));
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, AConvFeedingASqueezeBlockIsTunedOnItsOwnKey) {
  // ifx::conv2d_act_squeeze_excite times conv and block together: the same conv alone keeps its own choice.
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const ConvCall alone = conv(8, 120, 120, 28, 28, 5, 1, 120, kF16, true, Activation::kHardswish);
  const auto candidates = ifx::ops::conv_candidates(alone, flags);
  ASSERT_NE(std::find(candidates.begin(), candidates.end(), ConvPath::kDepthwise), candidates.end());
  ASSERT_NE(std::find(candidates.begin(), candidates.end(), ConvPath::kCudnnThenEpilogue), candidates.end());
  const auto fastest = [](ConvPath winner) {
    return [winner](ConvPath path) { return path == winner ? 1.0 : 2.0; };
  };
  EXPECT_EQ(ifx::ops::tuned_conv_path(alone, flags, fastest(ConvPath::kCudnnThenEpilogue)),
            ConvPath::kCudnnThenEpilogue);
  ConvCall feeding = alone;
  feeding.squeeze_hidden = 32;
  EXPECT_EQ(ifx::ops::tuned_conv_path(feeding, flags, fastest(ConvPath::kDepthwise)), ConvPath::kDepthwise);
  EXPECT_EQ(ifx::ops::tuned_conv_path(alone, flags, nullptr), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(ifx::ops::tuned_conv_path(feeding, flags, nullptr), ConvPath::kDepthwise);
  ConvCall wider = feeding;  // another block width is another key
  wider.squeeze_hidden = 48;
  int timed = 0;
  ifx::ops::tuned_conv_path(wider, flags, [&](ConvPath) { return static_cast<double>(++timed); });
  EXPECT_EQ(timed, static_cast<int>(candidates.size()));
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, TheTimingThreadTunesAShapeNestedInItsOwnTiming) {
  // channel_padded's first timed run tunes the padded conv inside the outer call's timing.
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const ConvCall outer = implicit_gemm_ready(conv(8, 64, 64, 28, 28, 3, 1, 1, kF16, true, Activation::kHardswish));
  ConvCall inner = outer;
  inner.batch = 9;
  const auto inner_candidates = ifx::ops::conv_candidates(inner, flags);
  ASSERT_GE(inner_candidates.size(), 2u);
  const ConvPath inner_fastest = inner_candidates.back();
  int inner_timed = 0;
  const auto inner_times = [&](ConvPath path) {
    ++inner_timed;
    return path == inner_fastest ? 1.0 : 2.0;
  };
  std::optional<ConvPath> nested_choice;
  const auto outer_times = [&](ConvPath path) {
    if (!nested_choice) nested_choice = ifx::ops::tuned_conv_path(inner, flags, inner_times);
    return path == ConvPath::kCudnnThenEpilogue ? 10.0 : 20.0;
  };
  EXPECT_EQ(ifx::ops::tuned_conv_path(outer, flags, outer_times), ConvPath::kCudnnThenEpilogue);
  ASSERT_TRUE(nested_choice.has_value());
  EXPECT_EQ(*nested_choice, inner_fastest);
  EXPECT_EQ(inner_timed, static_cast<int>(inner_candidates.size()));
  // Both remembered, and the outer timing's end leaves no timing under way: another shape tunes.
  EXPECT_EQ(ifx::ops::tuned_conv_path(inner, flags, nullptr), inner_fastest);
  ConvCall later = outer;
  later.batch = 10;
  int later_timed = 0;
  ifx::ops::tuned_conv_path(later, flags, [&](ConvPath) { return static_cast<double>(++later_timed); });
  EXPECT_GT(later_timed, 0);
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, CallsDuringAnotherThreadsTimingTakeTheRulesChoiceWithoutWaiting) {
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const ConvCall call = implicit_gemm_ready(conv(8, 64, 64, 28, 28, 3, 1, 1, kF16, true, Activation::kHardswish));
  const ConvPath rules = ifx::ops::conv_candidates(call, flags).front();
  std::promise<void> timing_started, may_finish;
  std::shared_future<void> finish = may_finish.get_future().share();
  bool signalled = false;
  const auto slow_times = [&](ConvPath path) {
    if (!signalled) {
      signalled = true;
      timing_started.set_value();
      finish.wait();
    }
    return path == ConvPath::kCudnnThenEpilogue ? 10.0 : 20.0;
  };
  std::future<ConvPath> tuning =
      std::async(std::launch::async, [&] { return ifx::ops::tuned_conv_path(call, flags, slow_times); });
  timing_started.get_future().wait();
  // The first thread is inside its timing: others neither wait nor time.
  int timed = 0;
  const auto counted = [&](ConvPath) { return static_cast<double>(++timed); };
  ConvCall other = call;
  other.batch = 9;
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, counted), rules);
  EXPECT_EQ(ifx::ops::tuned_conv_path(other, flags, counted), ifx::ops::conv_candidates(other, flags).front());
  EXPECT_EQ(timed, 0);
  may_finish.set_value();
  EXPECT_EQ(tuning.get(), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, counted), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(timed, 0);
  ifx::ops::tuned_conv_path(other, flags, counted);  // remembered for no one: tuned now
  EXPECT_GT(timed, 0);
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, ATimingThatThrowsLeavesTheShapeToBeTunedLater) {
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const ConvCall call = implicit_gemm_ready(conv(8, 64, 64, 28, 28, 3, 1, 1, kF16, true, Activation::kHardswish));
  const auto failing = [](ConvPath) -> double { throw std::runtime_error("out of memory"); };
  EXPECT_THROW(ifx::ops::tuned_conv_path(call, flags, failing), std::runtime_error);
  int timed = 0;
  const auto fake_times = [&](ConvPath path) {
    ++timed;
    return path == ConvPath::kCudnnThenEpilogue ? 10.0 : 20.0;
  };
  EXPECT_EQ(ifx::ops::tuned_conv_path(call, flags, fake_times), ConvPath::kCudnnThenEpilogue);
  EXPECT_EQ(timed, static_cast<int>(ifx::ops::conv_candidates(call, flags).size()));
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, CudnnDisabledNeverTakesItsFusedRelu) {
  const ConvCall call = conv(1, 64, 64, 56, 56, 3, 1, 1, kF32, false, Activation::kRelu);
  EXPECT_EQ(ifx::ops::choose_conv_path(call, MathFlags{false}, KernelOverride{}), ConvPath::kCudnnThenEpilogue);
}

TEST(KernelChoice, KernelPolicyForcesEitherWay) {
  const ConvCall big = conv(2, 64, 64, 64, 33, 1, 1, 1, kF32, false, Activation::kHardswish);
  const ConvCall small = conv(1, 64, 64, 7, 7, 1, 1, 1, kF32, false, Activation::kHardswish);
  KernelOverride always, never;
  always.pointwise = KernelPolicy::kAlways;
  never.pointwise = KernelPolicy::kNever;
  EXPECT_EQ(ifx::ops::choose_conv_path(big, MathFlags{}, always), ConvPath::kPointwise);
  EXPECT_EQ(ifx::ops::choose_conv_path(small, MathFlags{}, KernelOverride{}), ConvPath::kPointwise);
  EXPECT_EQ(ifx::ops::choose_conv_path(small, MathFlags{}, never), ConvPath::kCudnnThenEpilogue);
  // Not a pointwise conv: the policy changes nothing.
  const ConvCall dense = conv(1, 64, 64, 7, 7, 3, 1, 1, kF32, false, Activation::kHardswish);
  EXPECT_EQ(ifx::ops::choose_conv_path(dense, MathFlags{}, always), ConvPath::kCudnnThenEpilogue);
}

TEST(KernelChoice, ForcedPathIsTakenWhereItCovers) {
  KernelOverride force;
  force.conv = ConvPath::kCudnnThenEpilogue;
  const ConvCall depthwise = conv(1, 32, 32, 14, 14, 3, 1, 32, kF32, false, Activation::kRelu);
  EXPECT_EQ(ifx::ops::choose_conv_path(depthwise, MathFlags{}, force), ConvPath::kCudnnThenEpilogue);
  force.conv = ConvPath::kDepthwise;  // covers no dense conv: the rules decide
  const ConvCall dense = conv(1, 32, 32, 14, 14, 3, 1, 1, kF32, false, Activation::kHardswish);
  EXPECT_EQ(ifx::ops::choose_conv_path(dense, MathFlags{}, force), ConvPath::kCudnnThenEpilogue);
  force.conv = ConvPath::kCudnnFusedRelu;  // hardswish: cuDNN's fused kernel does not cover it
  EXPECT_EQ(ifx::ops::choose_conv_path(dense, MathFlags{}, force), ConvPath::kCudnnThenEpilogue);
}

TEST(KernelChoice, PathsCoveringACall) {
  const auto names = [](const std::vector<ConvPath>& paths) {
    std::vector<std::string> out;
    for (ConvPath p : paths) out.emplace_back(ifx::ops::path_name(p));
    return out;
  };
  using V = std::vector<std::string>;
  const ConvCall pointwise = conv(1, 16, 32, 7, 7, 1, 1, 1, kF32, false, Activation::kRelu);
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(pointwise, MathFlags{})),
            (V{"aten", "pointwise", "cudnn_fused_relu", "cudnn+epilogue"}));
  const ConvCall single_pixel = conv(2, 16, 32, 1, 1, 1, 1, 1, kBF16, true, Activation::kSilu);
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(single_pixel, MathFlags{})),
            (V{"aten", "few_rows_matmul", "pointwise", "cudnn+epilogue"}));
  const ConvCall depthwise = conv(2, 16, 16, 9, 9, 5, 2, 16, kF16, false, Activation::kHardswish);
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(depthwise, MathFlags{})), (V{"aten", "depthwise", "cudnn+epilogue"}));
  // fp32 3x3 channels_last with whole channel vectors: the two-rows NHWC kernel too (5x5, NCHW and
  // 16-bit types: not); fp32 and 16-bit channels_last: the shared-tile NHWC kernel (any of its
  // filter sizes, aligned operands).
  const ConvCall nhwc_3x3 = conv(2, 16, 16, 9, 9, 3, 1, 16, kF32, true, Activation::kHardswish);
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(nhwc_3x3, MathFlags{})),
            (V{"aten", "depthwise", "depthwise_two_rows", "depthwise_shared_tile", "cudnn+epilogue"}));
  ConvCall half_3x3 = nhwc_3x3;
  half_3x3.dtype = kF16;
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(half_3x3, MathFlags{})),
            (V{"aten", "depthwise", "depthwise_shared_tile", "cudnn+epilogue"}));
  ConvCall half_7x7 = half_3x3;
  half_7x7.dtype = ifx::kernels::ElementType::kBFloat16;
  half_7x7.kernel_h = half_7x7.kernel_w = 7;
  half_7x7.stride_h = half_7x7.stride_w = 2;
  half_7x7.pad_h = half_7x7.pad_w = 3;
  half_7x7.out_h = half_7x7.out_w = 5;
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(half_7x7, MathFlags{})),
            (V{"aten", "depthwise", "depthwise_shared_tile", "cudnn+epilogue"}));
  const auto half_candidates = ifx::ops::conv_candidates(half_3x3, MathFlags{});
  EXPECT_NE(std::find(half_candidates.begin(), half_candidates.end(), ConvPath::kDepthwiseSharedTile),
            half_candidates.end());
  ConvCall half_unaligned = half_3x3;
  half_unaligned.operands_aligned = false;
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(half_unaligned, MathFlags{})),
            (V{"aten", "depthwise", "cudnn+epilogue"}));
  ConvCall unaligned = nhwc_3x3;
  unaligned.operands_aligned = false;
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(unaligned, MathFlags{})), (V{"aten", "depthwise", "cudnn+epilogue"}));
  const auto candidates = ifx::ops::conv_candidates(nhwc_3x3, MathFlags{});
  EXPECT_NE(std::find(candidates.begin(), candidates.end(), ConvPath::kDepthwiseTwoRows), candidates.end());
  // A stem conv over an image's 3 channels, channels_last: padding them to one 16-byte vector
  // (4 fp32 channels, 8 of a 16-bit type) is a candidate; NCHW, fp64 and whole vectors: not.
  const ConvCall stem = conv(64, 3, 64, 224, 224, 7, 2, 1, kF32, true, Activation::kRelu);
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(stem, MathFlags{})),
            (V{"aten", "cudnn_fused_relu", "cudnn+epilogue", "channel_padded"}));
  EXPECT_EQ(ifx::ops::channel_padded_width(stem), 4);
  ConvCall half_stem = stem;
  half_stem.dtype = kF16;
  EXPECT_EQ(ifx::ops::channel_padded_width(half_stem), 8);
  // A tuning candidate, never the rules' own choice: it pays only where timing says so.
  const auto stem_candidates = ifx::ops::conv_candidates(stem, MathFlags{});
  EXPECT_NE(std::find(stem_candidates.begin(), stem_candidates.end(), ConvPath::kChannelPadded), stem_candidates.end());
  EXPECT_NE(ifx::ops::choose_conv_path(stem, MathFlags{}, {}), ConvPath::kChannelPadded);
  ifx::ops::KernelOverride padded;
  padded.conv = ConvPath::kChannelPadded;
  EXPECT_EQ(ifx::ops::choose_conv_path(stem, MathFlags{}, padded), ConvPath::kChannelPadded);
  ConvCall nchw_stem = stem;
  nchw_stem.channels_last = false;
  ConvCall double_stem = stem;
  double_stem.dtype = ifx::kernels::ElementType::kFloat64;
  ConvCall four_channels = stem;
  four_channels.in_channels = 4;
  for (const ConvCall& call : {nchw_stem, double_stem, four_channels}) {
    const auto covering = names(ifx::ops::conv_paths_covering(call, MathFlags{}));
    EXPECT_EQ(std::find(covering.begin(), covering.end(), "channel_padded"), covering.end());
  }
  ConvCall none = depthwise;
  none.kernels_apply = false;
  EXPECT_EQ(names(ifx::ops::conv_paths_covering(none, MathFlags{})), (V{"aten"}));
}

// cuDNN's graph (the conv with its epilogue as pointwise nodes) is asked for dense and depthwise
// NHWC convs over a KRSC weight in fp16, bf16 and fp32; whether cuDNN has an engine is known only on
// the GPU, so the path is a tuning candidate and never the rules' choice.
TEST(KernelChoice, CudnnGraphIsATuningCandidateForDenseAndDepthwiseNhwcConvs) {
  const auto covers = [](const ConvCall& call, const MathFlags& flags) {
    const auto paths = ifx::ops::conv_paths_covering(call, flags);
    return std::find(paths.begin(), paths.end(), ConvPath::kCudnnGraph) != paths.end();
  };
  ConvCall expand = conv(64, 24, 144, 56, 56, 1, 1, 1, kF16, true, Activation::kSilu);
  expand.weight_channels_last = true;
  EXPECT_TRUE(covers(expand, MathFlags{}));
  const auto candidates = ifx::ops::conv_candidates(expand, MathFlags{});
  EXPECT_NE(std::find(candidates.begin(), candidates.end(), ConvPath::kCudnnGraph), candidates.end());
  EXPECT_NE(ifx::ops::choose_conv_path(expand, MathFlags{}, {}), ConvPath::kCudnnGraph);
  KernelOverride force;
  force.conv = ConvPath::kCudnnGraph;
  EXPECT_EQ(ifx::ops::choose_conv_path(expand, MathFlags{}, force), ConvPath::kCudnnGraph);

  ConvCall strided = conv(8, 64, 64, 28, 28, 3, 2, 1, kBF16, true, Activation::kHardswish);
  strided.weight_channels_last = true;
  strided.has_residual = false;
  EXPECT_TRUE(covers(strided, MathFlags{}));

  // fp32, with TF32 allowed or not (the graph then takes only exact-fp32 engines, on the GPU).
  ConvCall single = expand;
  single.dtype = kF32;
  EXPECT_TRUE(covers(single, MathFlags{}));
  MathFlags tf32;
  tf32.allow_tf32 = true;
  EXPECT_TRUE(covers(single, tf32));
  EXPECT_TRUE(covers(expand, tf32));

  std::vector<ConvCall> not_covered;
  for (int i = 0; i < 7; ++i) not_covered.push_back(expand);
  not_covered[0].activation = Activation::kMish;  // no cuDNN pointwise form
  not_covered[1].channels_last = false;
  not_covered[2].weight_channels_last = false;
  not_covered[3].dtype = kF64;
  not_covered[4].has_residual = true;
  not_covered[4].residual_aligned = false;
  not_covered[5].operands_aligned = false;
  not_covered[6].kernels_apply = false;
  for (const ConvCall& call : not_covered) EXPECT_FALSE(covers(call, tf32));
  ConvCall depthwise = conv(64, 144, 144, 56, 56, 3, 1, 144, kF16, true, Activation::kSilu);
  depthwise.weight_channels_last = true;
  EXPECT_TRUE(covers(depthwise, tf32));
  EXPECT_NE(ifx::ops::choose_conv_path(depthwise, tf32, {}), ConvPath::kCudnnGraph);
  ConvCall grouped = depthwise;  // two channels per group: neither dense nor depthwise
  grouped.groups = 72;
  EXPECT_FALSE(covers(grouped, tf32));
  MathFlags no_cudnn;
  no_cudnn.cudnn_enabled = false;
  EXPECT_FALSE(covers(expand, no_cudnn));
  MathFlags switched_off;  // IFX_CUDNN_GRAPH=0
  switched_off.cudnn_graph = false;
  EXPECT_FALSE(covers(expand, switched_off));
  MathFlags deterministic = tf32;  // torch.backends.cudnn.deterministic: the graph does not pick engines by it
  deterministic.cudnn_deterministic = true;
  EXPECT_FALSE(covers(expand, deterministic));
  EXPECT_FALSE(covers(depthwise, deterministic));
}

LinearCall linear(int64_t rows, int64_t in, int64_t out, ElementType dtype, Activation activation) {
  LinearCall c;
  c.dtype = dtype;
  c.rows = rows;
  c.in_features = in;
  c.out_features = out;
  c.has_bias = true;
  c.activation = activation;
  return c;
}

TEST(KernelChoice, LinearRules) {
  const KernelOverride none;
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(1, 2048, 1000, kF32, Activation::kNone), none),
            LinearPath::kFewRowsMatmul);  // 8 KB
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(1, 2049, 1000, kF32, Activation::kNone), none), LinearPath::kCublas);
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(2, 2048, 1000, kF16, Activation::kHardswish), none),
            LinearPath::kFewRowsMatmul);
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(9, 16, 16, kF32, Activation::kRelu), none),
            LinearPath::kCublasThenActivation);  // past the kernel's rows
  LinearCall empty = linear(1, 16, 16, kF32, Activation::kRelu);
  empty.kernels_apply = false;
  EXPECT_EQ(ifx::ops::choose_linear_path(empty, none), LinearPath::kAten);
  KernelOverride force;
  force.linear = LinearPath::kFewRowsMatmul;
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(8, 9216, 4096, kF32, Activation::kRelu), force),
            LinearPath::kFewRowsMatmul);
  force.linear = LinearPath::kCublas;  // would drop the activation: not taken
  EXPECT_EQ(ifx::ops::choose_linear_path(linear(8, 9216, 4096, kF32, Activation::kRelu), force),
            LinearPath::kCublasThenActivation);
}

// The split-K implicit GEMM covers exact-fp32 linears whose features make two parts of 64, and
// cuts them into enough parts for about 256 blocks of 64x64 outputs. No rule takes it before it
// has been timed on a GPU: only the override does.
TEST(KernelChoice, LinearSplitKCoversFp32AndIsTakenOnlyWhenForced) {
  const KernelOverride none;
  using ifx::ops::choose_linear_path;
  using ifx::ops::linear_split_k_slices;
  const LinearCall hidden = linear(64, 960, 1280, kF32, Activation::kHardswish);  // 1 x 20 tiles
  EXPECT_EQ(linear_split_k_slices(hidden), 13);                                     // 260 blocks
  EXPECT_EQ(linear_split_k_slices(linear(64, 2048, 1000, kF32, Activation::kNone)), 16);  // 1 x 16 tiles
  EXPECT_EQ(linear_split_k_slices(linear(1024, 960, 1280, kF32, Activation::kNone)), 2);  // 320 tiles: the fewest
  EXPECT_EQ(linear_split_k_slices(linear(64, 8192, 64, kF32, Activation::kNone)), 32);    // the most
  EXPECT_EQ(linear_split_k_slices(linear(64, 200, 1000, kF32, Activation::kNone)), 3);    // 64 features each
  EXPECT_EQ(linear_split_k_slices(linear(64, 127, 1000, kF32, Activation::kNone)), 0);    // not two parts

  EXPECT_EQ(choose_linear_path(hidden, none), LinearPath::kCublasThenActivation);
  KernelOverride force;
  force.linear = LinearPath::kImplicitGemmSplitK;
  EXPECT_EQ(choose_linear_path(hidden, force), LinearPath::kImplicitGemmSplitK);
  EXPECT_EQ(choose_linear_path(linear(1, 2049, 1000, kF32, Activation::kNone), force), LinearPath::kImplicitGemmSplitK);
  // Not covered: other types, too few features. The override then falls back to the rules.
  EXPECT_EQ(choose_linear_path(linear(64, 960, 1280, kF16, Activation::kNone), force), LinearPath::kCublas);
  EXPECT_EQ(choose_linear_path(linear(64, 960, 1280, ElementType::kFloat64, Activation::kNone), force),
            LinearPath::kCublas);
  EXPECT_EQ(choose_linear_path(linear(64, 127, 1000, kF32, Activation::kRelu), force),
            LinearPath::kCublasThenActivation);

  const ifx::kernels::ImplicitGemmConvShape shape = ifx::ops::linear_as_conv_shape(hidden);
  EXPECT_EQ(shape.batch, 64);
  EXPECT_EQ(shape.in_channels, 960);
  EXPECT_EQ(shape.out_channels, 1280);
  EXPECT_EQ(shape.in_h * shape.in_w * shape.out_h * shape.out_w * shape.kernel_h * shape.kernel_w, 1);
  EXPECT_EQ(shape.stride_h * shape.stride_w * shape.dilation_h * shape.dilation_w, 1);
  EXPECT_EQ(shape.pad_h + shape.pad_w, 0);
  EXPECT_TRUE(ifx::kernels::implicit_gemm_conv_supported(kF32, shape, ifx::kernels::ConvMath::kExact));
}

TEST(KernelChoice, LinearTuningTimesTheCandidatesOnceAndKeepsTheFastest) {
  ifx::ops::clear_conv_tuning();
  const MathFlags flags{true, true, 132};
  const LinearCall hidden = linear(64, 960, 1280, kF32, Activation::kHardswish);  // 20 output tiles
  const auto candidates = ifx::ops::linear_candidates(hidden, flags);
  ASSERT_FALSE(candidates.empty());
  EXPECT_EQ(candidates.front(), ifx::ops::choose_linear_path(hidden, {}));  // the rules' choice first
  // Every covering path but ATen's composition, once each.
  for (LinearPath path : ifx::ops::linear_paths_covering(hidden)) {
    EXPECT_EQ(std::count(candidates.begin(), candidates.end(), path), path == LinearPath::kAten ? 0 : 1)
        << ifx::ops::path_name(path);
  }
  EXPECT_EQ(std::count(candidates.begin(), candidates.end(), LinearPath::kImplicitGemmSplitK), 1);
  // fp16 has no split-K path; 64 rows are past the few-rows kernel: cuBLAS alone, nothing to time.
  EXPECT_EQ(ifx::ops::linear_candidates(linear(64, 960, 1280, kF16, Activation::kHardswish), flags).size(), 1u);
  // Split-K is timed only while the output tiles leave SMs idle: 512 rows make 160 tiles of 132 SMs.
  const auto wide = ifx::ops::linear_candidates(linear(512, 960, 1280, kF32, Activation::kHardswish), flags);
  EXPECT_EQ(std::count(wide.begin(), wide.end(), LinearPath::kImplicitGemmSplitK), 0);
  const MathFlags bigger_gpu{true, true, 200};
  const auto on_bigger = ifx::ops::linear_candidates(linear(512, 960, 1280, kF32, Activation::kHardswish), bigger_gpu);
  EXPECT_EQ(std::count(on_bigger.begin(), on_bigger.end(), LinearPath::kImplicitGemmSplitK), 1);

  int timed = 0;
  const auto fake_times = [&](LinearPath path) {
    ++timed;
    return path == LinearPath::kImplicitGemmSplitK ? 5.0 : 10.0;
  };
  const int per_key = static_cast<int>(candidates.size());
  EXPECT_EQ(ifx::ops::tuned_linear_path(hidden, flags, fake_times), LinearPath::kImplicitGemmSplitK);
  EXPECT_EQ(timed, per_key);
  EXPECT_EQ(ifx::ops::tuned_linear_path(hidden, flags, fake_times), LinearPath::kImplicitGemmSplitK);
  EXPECT_EQ(timed, per_key);  // the second call measures nothing
  LinearCall tf32 = hidden;
  tf32.matmul_tf32 = true;  // cuBLAS may then take TF32: a key of its own
  ifx::ops::tuned_linear_path(tf32, flags, fake_times);
  EXPECT_EQ(timed, 2 * per_key);
  ifx::ops::tuned_linear_path(hidden, MathFlags{true, true, 114}, fake_times);  // another GPU: its own key
  EXPECT_EQ(timed, 3 * per_key);
  // Without a clock (a capturing stream): the tuned path where the key is known, else the rules'.
  EXPECT_EQ(ifx::ops::tuned_linear_path(hidden, flags, nullptr), LinearPath::kImplicitGemmSplitK);
  const LinearCall untimed = linear(128, 960, 1280, kF32, Activation::kHardswish);
  EXPECT_EQ(ifx::ops::tuned_linear_path(untimed, flags, nullptr), ifx::ops::choose_linear_path(untimed, {}));
  // Ties keep the rules' choice.
  EXPECT_EQ(ifx::ops::tuned_linear_path(untimed, flags, [](LinearPath) { return 1.0; }),
            ifx::ops::choose_linear_path(untimed, {}));
  // Clearing forgets linear choices too: the next call times again.
  ifx::ops::clear_conv_tuning();
  ifx::ops::tuned_linear_path(hidden, flags, fake_times);
  EXPECT_EQ(timed, 4 * per_key);
  ifx::ops::clear_conv_tuning();
}

TEST(KernelChoice, PathNamesRoundTrip) {
  for (ConvPath path : {ConvPath::kAten, ConvPath::kDepthwise, ConvPath::kDepthwiseTwoRows, ConvPath::kDepthwiseSharedTile,
                        ConvPath::kFewRowsMatmul, ConvPath::kPointwise,
                        ConvPath::kCudnnFusedRelu, ConvPath::kCudnnThenEpilogue, ConvPath::kChannelPadded, ConvPath::kImplicitGemm,
                        ConvPath::kImplicitGemmSmall, ConvPath::kHopperGemm64x64, ConvPath::kHopperGemm64x128,
                        ConvPath::kHopperGemm128x256}) {
    EXPECT_EQ(ifx::ops::conv_path_named(ifx::ops::path_name(path)), path);
  }
  EXPECT_FALSE(ifx::ops::conv_path_named("fastest").has_value());
  EXPECT_EQ(ifx::ops::linear_path_named("cublas+activation"), LinearPath::kCublasThenActivation);
  EXPECT_EQ(ifx::ops::linear_path_named("implicit_gemm_split_k"), LinearPath::kImplicitGemmSplitK);
}

// resnet's stem pool (3x3, stride 2, padding 1) on a 112x112 map, as the op describes it.
ifx::ops::MaxPoolCall stem_pool() {
  ifx::ops::MaxPoolCall c;
  c.dtype = ElementType::kFloat16;
  c.shape = {64, 64, 112, 112, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1};
  return c;
}

TEST(KernelChoice, MaxPoolRules) {
  using ifx::ops::MaxPoolPath;
  EXPECT_EQ(ifx::ops::choose_max_pool_path(stem_pool()), MaxPoolPath::kChannelsLast);
  auto nchw = stem_pool();
  nchw.kernels_apply = false;  // not channels_last, or a dtype the kernels lack
  EXPECT_EQ(ifx::ops::choose_max_pool_path(nchw), MaxPoolPath::kAten);
  auto wide_padding = stem_pool();
  wide_padding.shape.pad_w = 2;  // more than half the window: ATen raises its error
  EXPECT_EQ(ifx::ops::choose_max_pool_path(wide_padding), MaxPoolPath::kAten);
  auto no_output = stem_pool();
  no_output.shape.out_h = 0;
  EXPECT_EQ(ifx::ops::choose_max_pool_path(no_output), MaxPoolPath::kAten);
  auto huge = stem_pool();
  huge.shape.batch = 8192;  // 2^32 input elements: past the kernel's 32-bit indices
  EXPECT_EQ(ifx::ops::choose_max_pool_path(huge), MaxPoolPath::kAten);
  EXPECT_STREQ(ifx::ops::path_name(MaxPoolPath::kChannelsLast), "channels_last");
}

// PDL is off unless asked for (csrc/kernels/launch.h says what it measured).
TEST(ProgrammaticLaunchSetting, OffUnlessIfxPdlIsOne) {
  using ifx::kernels::programmatic_launch_setting;
  for (const char* off : {static_cast<const char*>(nullptr), "", "0"}) {
    EXPECT_FALSE(programmatic_launch_setting(off).enabled) << (off ? off : "unset");
    EXPECT_TRUE(programmatic_launch_setting(off).valid) << (off ? off : "unset");
  }
  EXPECT_TRUE(programmatic_launch_setting("1").enabled);
  EXPECT_TRUE(programmatic_launch_setting("1").valid);
  for (const char* junk : {"on", "2", "10", " 1", "true"}) {
    EXPECT_FALSE(programmatic_launch_setting(junk).enabled) << junk;
    EXPECT_FALSE(programmatic_launch_setting(junk).valid) << junk;
  }
}

// ifx::conv2d_act_squeeze_excite: the depthwise kernel leaves the block's squeeze only where the conv's own
// path is one of its NHWC forms that can (fp32 / 16-bit, channels_last, fc1 on 16 bytes); every other call
// gets the block's own path.
TEST(KernelChoice, DepthwiseSqueezeOnlyWhereTheConvRunsOurNhwcKernel) {
  using ifx::ops::SqueezeExcitePath;
  const auto block_for = [](const ConvCall& c, int hidden) {
    ifx::ops::SqueezeExciteCall b;
    b.dtype = c.dtype;
    b.shape = {static_cast<int>(c.batch), static_cast<int>(c.out_channels), hidden,
               static_cast<int>(c.out_h * c.out_w), c.channels_last};
    return b;
  };
  const ConvCall fp16 = conv(8, 120, 120, 28, 28, 5, 1, 120, kF16, true, Activation::kHardswish);
  const auto path = [&](const ConvCall& c, ConvPath conv_path, int hidden = 32, bool w1_aligned = true) {
    return ifx::ops::choose_depthwise_squeeze_path(c, conv_path, block_for(c, hidden), w1_aligned, KernelOverride{});
  };
  EXPECT_EQ(path(fp16, ConvPath::kDepthwise), SqueezeExcitePath::kDepthwiseSqueeze);
  EXPECT_EQ(path(fp16, ConvPath::kDepthwiseSharedTile), SqueezeExcitePath::kDepthwiseSqueeze);
  EXPECT_EQ(path(fp16, ConvPath::kDepthwiseTwoRows), SqueezeExcitePath::kTwoKernels);  // 16 bits: no such form
  EXPECT_EQ(path(fp16, ConvPath::kCudnnThenEpilogue), SqueezeExcitePath::kTwoKernels);
  EXPECT_EQ(path(fp16, ConvPath::kDepthwise, 32, false), SqueezeExcitePath::kTwoKernels);
  EXPECT_EQ(path(fp16, ConvPath::kDepthwise, 5000), SqueezeExcitePath::kAten);  // past the excite kernel's 4096
  const ConvCall fp32_3x3 = conv(1, 144, 144, 56, 56, 3, 2, 144, kF32, true, Activation::kSilu);
  EXPECT_EQ(path(fp32_3x3, ConvPath::kDepthwiseTwoRows), SqueezeExcitePath::kDepthwiseSqueeze);
  ConvCall nchw = fp32_3x3;
  nchw.channels_last = false;
  EXPECT_EQ(path(nchw, ConvPath::kDepthwise), SqueezeExcitePath::kTwoKernels);
  ConvCall fp64 = fp32_3x3;
  fp64.dtype = kF64;
  EXPECT_EQ(path(fp64, ConvPath::kDepthwise), SqueezeExcitePath::kTwoKernels);
  ConvCall unaligned = fp16;
  unaligned.operands_aligned = false;
  EXPECT_EQ(path(unaligned, ConvPath::kDepthwise), SqueezeExcitePath::kTwoKernels);
  ConvCall odd = conv(1, 6, 6, 9, 9, 3, 1, 6, kF16, true, Activation::kRelu);  // no whole 4-channel vectors
  EXPECT_EQ(path(odd, ConvPath::kDepthwise, 2), SqueezeExcitePath::kTwoKernels);
  EXPECT_STREQ(ifx::ops::path_name(SqueezeExcitePath::kDepthwiseSqueeze), "depthwise_squeeze");
}

// The gates in a kernel of their own: by gate_kernel_pays where no override says otherwise, never at
// batch 1 (the extra launch is the cost there), and only where our kernels take the block at all.
TEST(KernelChoice, GateKernelByItsRuleOrTheOverride) {
  using ifx::kernels::SqueezeExciteGates;
  using ifx::ops::SqueezeExcitePath;
  ifx::ops::SqueezeExciteCall block;  // efficientnet_b0's last blocks: 1152 channels, 48 hidden, 7x7
  block.dtype = kF16;
  block.shape = {64, 1152, 48, 49, true};
  KernelOverride always, never;
  always.gate_kernel = KernelPolicy::kAlways;
  never.gate_kernel = KernelPolicy::kNever;
  const auto path = [](const ifx::ops::SqueezeExciteCall& b, const KernelOverride& o) {
    return ifx::ops::choose_squeeze_excite_path(b, o);
  };
  EXPECT_EQ(path(block, KernelOverride{}), SqueezeExcitePath::kTwoKernels);  // 7.2 MB of fp16: 1.24x slower
  EXPECT_EQ(path(block, always), SqueezeExcitePath::kThreeKernels);
  EXPECT_EQ(path(block, never), SqueezeExcitePath::kTwoKernels);
  auto big_map = block;  // its 144-channel 56x56 block at batch 64: 57.8 MB, 0.68x
  big_map.shape = {64, 144, 6, 3136, true};
  EXPECT_EQ(path(big_map, KernelOverride{}), SqueezeExcitePath::kThreeKernels);
  EXPECT_EQ(path(big_map, never), SqueezeExcitePath::kTwoKernels);
  auto planar = big_map;  // NCHW was not timed
  planar.shape.channels_last = false;
  EXPECT_EQ(path(planar, KernelOverride{}), SqueezeExcitePath::kTwoKernels);
  auto mid_map = big_map;  // the 240-channel 28x28 block: 24.1 MB, 1.40x
  mid_map.shape = {64, 240, 10, 784, true};
  EXPECT_EQ(path(mid_map, KernelOverride{}), SqueezeExcitePath::kTwoKernels);
  auto float32 = mid_map;  // mobilenet_v3_large's 120-channel 28x28 block in fp32: 24.1 MB, 0.93x
  float32.dtype = kF32;
  float32.shape = {64, 120, 32, 784, true};
  EXPECT_EQ(path(float32, KernelOverride{}), SqueezeExcitePath::kThreeKernels);
  auto float32_batch8 = float32;  // its 960-channel 7x7 blocks at batch 8: 1.5 MB, 1.05x
  float32_batch8.shape = {8, 960, 240, 49, true};
  EXPECT_EQ(path(float32_batch8, KernelOverride{}), SqueezeExcitePath::kTwoKernels);
  auto float64 = float32;  // not timed
  float64.dtype = ElementType::kFloat64;
  EXPECT_EQ(path(float64, KernelOverride{}), SqueezeExcitePath::kTwoKernels);
  for (auto single : {block, big_map, float32}) {
    single.shape.batch = 1;
    EXPECT_FALSE(ifx::ops::gate_kernel_pays(single.shape, single.dtype)) << single.shape.channels;
    EXPECT_EQ(path(single, KernelOverride{}), SqueezeExcitePath::kTwoKernels);
    EXPECT_EQ(path(single, always), SqueezeExcitePath::kThreeKernels);
  }
  auto elsewhere = block;
  elsewhere.kernels_apply = false;
  EXPECT_EQ(path(elsewhere, always), SqueezeExcitePath::kAten);
  EXPECT_EQ(ifx::ops::squeeze_excite_gates(SqueezeExcitePath::kThreeKernels), SqueezeExciteGates::kGateKernel);
  EXPECT_EQ(ifx::ops::squeeze_excite_gates(SqueezeExcitePath::kDepthwiseSqueezeGateKernel),
            SqueezeExciteGates::kGateKernel);
  EXPECT_EQ(ifx::ops::squeeze_excite_gates(SqueezeExcitePath::kTwoKernels), SqueezeExciteGates::kInExciteBlocks);
  EXPECT_EQ(ifx::ops::squeeze_excite_gates(SqueezeExcitePath::kDepthwiseSqueeze), SqueezeExciteGates::kInExciteBlocks);
  EXPECT_STREQ(ifx::ops::path_name(SqueezeExcitePath::kThreeKernels), "three_kernels");
  EXPECT_STREQ(ifx::ops::path_name(SqueezeExcitePath::kDepthwiseSqueezeGateKernel), "depthwise_squeeze_gate_kernel");

  // With the depthwise conv's side output: the same choice of gates after it.
  const ConvCall dw = conv(64, 1152, 1152, 7, 7, 5, 1, 1152, kF16, true, Activation::kSilu);
  const auto depthwise = [&](const KernelOverride& o, bool w1_aligned = true) {
    return ifx::ops::choose_depthwise_squeeze_path(dw, ConvPath::kDepthwise, block, w1_aligned, o);
  };
  EXPECT_EQ(depthwise(always), SqueezeExcitePath::kDepthwiseSqueezeGateKernel);
  EXPECT_EQ(depthwise(never), SqueezeExcitePath::kDepthwiseSqueeze);
  EXPECT_EQ(depthwise(KernelOverride{}), SqueezeExcitePath::kDepthwiseSqueeze);  // the rule, as for the block alone
  const ConvCall dw_big = conv(64, 144, 144, 56, 56, 3, 1, 144, kF16, true, Activation::kSilu);
  EXPECT_EQ(ifx::ops::choose_depthwise_squeeze_path(dw_big, ConvPath::kDepthwise, big_map, true, KernelOverride{}),
            SqueezeExcitePath::kDepthwiseSqueezeGateKernel);
  EXPECT_EQ(depthwise(always, false), SqueezeExcitePath::kThreeKernels);  // no side output: the block's own kernels
}

// The gate kernel's tiles: whole 8-channel vectors, at most the kernels' 128 channels, together
// covering every channel; the workspace holds the gates after the partials.
TEST(SqueezeExcitePlan, GateTilesCoverTheChannelsAndTheWorkspaceHoldsTheGates) {
  using ifx::kernels::SqueezeExciteGates;
  using ifx::kernels::SqueezeExciteShape;
  for (const SqueezeExciteShape s : {SqueezeExciteShape{64, 1152, 48, 49, true}, SqueezeExciteShape{64, 144, 6, 3136, true},
                                     SqueezeExciteShape{1, 16, 8, 3136, false}, SqueezeExciteShape{8, 960, 240, 49, true},
                                     SqueezeExciteShape{3, 13, 5, 81, false}, SqueezeExciteShape{17, 672, 28, 49, false}}) {
    const auto plan = ifx::kernels::squeeze_excite_plan(s);
    EXPECT_EQ(plan.gate_channels % 8, 0) << s.channels;
    EXPECT_LE(plan.gate_channels, ifx::kernels::kSqueezeExciteMaxChannels) << s.channels;
    EXPECT_GE(plan.gate_channels, std::min(32, (s.channels + 7) / 8 * 8)) << s.channels;
    const size_t partials = size_t(s.batch) * plan.partials * s.hidden * sizeof(double);
    EXPECT_EQ(ifx::kernels::squeeze_excite_workspace_bytes(s, SqueezeExciteGates::kInExciteBlocks), partials);
    EXPECT_EQ(ifx::kernels::squeeze_excite_workspace_bytes(s, SqueezeExciteGates::kGateKernel),
              partials + size_t(s.batch) * s.channels * sizeof(double));
  }
}

}  // namespace
}  // namespace ifx_test
