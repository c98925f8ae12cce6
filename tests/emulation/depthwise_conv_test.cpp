// csrc/kernels/depthwise_conv_kernels.cu run on the CPU (cuda_on_host.h):
// every variant (NHWC tiled with one and two output rows per thread or the
// input tile in shared memory, NCHW tiled, generic) for each element type,
// against a float64 reference of the same rounded inputs, with bias, residual
// and hardswish (and one more activation per case, whose reference is the
// kernels' own activate<double>), and with the weight on and off the 16-byte grid (the NHWC
// kernel stages filters with vector loads only on it). This checks indexing,
// barriers, bounds, alignment handling and numerics on a machine without a GPU;
// speed, and what only the GPU does, are for the CUDA tests on the GPU machine.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "host_values.h"
#include "kernels/activation_math.cuh"
#include "kernels/depthwise_conv_kernels.h"

namespace ifx::kernels {
namespace {

double hardswish(double x) { return x * std::min(std::max(x + 3, 0.0), 6.0) / 6; }

struct Case {
  int batch, channels, height, kernel, stride, dilation;
  bool channels_last;
  int weight_offset;  // elements past a 64-byte boundary
  bool residual;
};

std::string case_name(const Case& c) {
  return "n" + std::to_string(c.batch) + "c" + std::to_string(c.channels) + "h" + std::to_string(c.height) + "k" +
         std::to_string(c.kernel) + "s" + std::to_string(c.stride) + "d" + std::to_string(c.dilation) +
         (c.channels_last ? "_nhwc" : "_nchw") + (c.weight_offset ? "_unaligned_weight" : "") +
         (c.residual ? "_residual" : "");
}

// The largest error relative to (1 + |reference|) over the output.
template <typename T>
double worst_error(ElementType type, const Case& c, Activation activation, DepthwiseForm form = DepthwiseForm::kOneRow) {
  const int pad = c.dilation * (c.kernel / 2), width = c.height + 1;
  const int span = c.dilation * (c.kernel - 1) + 1;
  DepthwiseShape s{c.batch, c.channels, c.height, width, (c.height + 2 * pad - span) / c.stride + 1,
                   (width + 2 * pad - span) / c.stride + 1, c.kernel, c.kernel, c.stride, c.stride, pad, pad,
                   c.dilation, c.dilation, c.channels_last};
  std::mt19937 generator(c.channels * 131 + c.kernel * 7 + c.stride);
  std::normal_distribution<double> normal;
  const size_t taps = size_t(c.kernel) * c.kernel;
  const size_t inputs = size_t(s.batch) * s.channels * s.in_h * s.in_w;
  const size_t outputs = size_t(s.batch) * s.channels * s.out_h * s.out_w;
  std::vector<T> x(inputs), bias(s.channels), residual(outputs), y(outputs);
  for (T& v : x) v = from_double<T>(3 * normal(generator));
  for (T& v : bias) v = from_double<T>(normal(generator));
  for (T& v : residual) v = from_double<T>(normal(generator));
  const size_t weights = taps * s.channels + c.weight_offset;
  std::unique_ptr<T, decltype(&std::free)> weight_storage(
      static_cast<T*>(std::aligned_alloc(64, (weights * sizeof(T) + 63) / 64 * 64)), &std::free);
  T* weight = weight_storage.get() + c.weight_offset;
  for (size_t i = 0; i < taps * s.channels; ++i) weight[i] = from_double<T>(normal(generator) / c.kernel);

  const auto input_at = [&](int n, int ch, int h, int w) {
    return c.channels_last ? ((size_t(n) * s.in_h + h) * s.in_w + w) * s.channels + ch
                           : ((size_t(n) * s.channels + ch) * s.in_h + h) * s.in_w + w;
  };
  const auto output_at = [&](int n, int ch, int h, int w) {
    return c.channels_last ? ((size_t(n) * s.out_h + h) * s.out_w + w) * s.channels + ch
                           : ((size_t(n) * s.channels + ch) * s.out_h + h) * s.out_w + w;
  };
  Epilogue epilogue;
  epilogue.bias = bias.data();
  epilogue.residual = c.residual ? residual.data() : nullptr;
  epilogue.activation = activation;
  EXPECT_EQ(launch_depthwise_conv2d(type, s, x.data(), weight, y.data(), epilogue, nullptr, form), cudaSuccess);

  double worst = 0;
  for (int n = 0; n < s.batch; ++n) {
    for (int ch = 0; ch < s.channels; ++ch) {
      for (int oh = 0; oh < s.out_h; ++oh) {
        for (int ow = 0; ow < s.out_w; ++ow) {
          double sum = to_double(bias[ch]);
          for (int kh = 0; kh < c.kernel; ++kh) {
            for (int kw = 0; kw < c.kernel; ++kw) {
              const int ih = oh * c.stride - pad + kh * c.dilation, iw = ow * c.stride - pad + kw * c.dilation;
              if (ih < 0 || iw < 0 || ih >= s.in_h || iw >= s.in_w) continue;
              sum += to_double(x[input_at(n, ch, ih, iw)]) * to_double(weight[ch * taps + kh * c.kernel + kw]);
            }
          }
          if (c.residual) sum += to_double(residual[output_at(n, ch, oh, ow)]);
          const double expected = activation == Activation::kHardswish ? hardswish(sum) : activate(activation, sum);
          const double error = std::abs(to_double(y[output_at(n, ch, oh, ow)]) - expected) / (1 + std::abs(expected));
          if (!(error <= worst)) worst = error;  // a NaN output stays the worst
        }
      }
    }
  }
  return worst;
}

class DepthwiseOnHost : public testing::TestWithParam<Case> {};

// Each type's error bound: a few roundings of the output (the accumulation is in float or double).
TEST_P(DepthwiseOnHost, EveryElementTypeMatchesFloat64) {
  const Case c = GetParam();
  // Hardswish everywhere, and each case one more activation (the kernels take the activation's
  // code through one switch around their stores: each case must reach the right one).
  // (height + batch) spreads the 13 cases below over all 8 activations.
  const Activation other = kActivations[(c.height + c.batch) % kActivationCount].activation;
  for (const Activation activation : {Activation::kHardswish, other}) {
    SCOPED_TRACE(activation_info(activation).name);
    EXPECT_LE(worst_error<float>(ElementType::kFloat32, c, activation), 2e-6);
    EXPECT_LE(worst_error<double>(ElementType::kFloat64, c, activation), 1e-14);
    EXPECT_LE(worst_error<__half>(ElementType::kFloat16, c, activation), 1e-3);
    EXPECT_LE(worst_error<__nv_bfloat16>(ElementType::kBFloat16, c, activation), 8e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseOnHost,
    testing::Values(
        // NHWC tiled: a wide 5x5 layer at batch 1 (many staging rounds per block), strides, 7x7,
        // channel counts of whole 4-channel vectors but not 8 (12, 20, 36), batch > 1.
        Case{1, 960, 7, 5, 1, 1, true, 0, false}, Case{1, 960, 7, 5, 1, 1, true, 1, true},
        Case{1, 72, 28, 5, 2, 1, true, 0, true}, Case{2, 200, 14, 3, 1, 1, true, 1, false},
        Case{1, 12, 9, 3, 1, 1, true, 0, true}, Case{1, 12, 9, 7, 2, 1, true, 1, true},
        Case{3, 20, 11, 3, 2, 1, true, 0, false}, Case{1, 64, 16, 7, 1, 1, true, 0, true},
        Case{2, 36, 10, 5, 1, 1, true, 1, true},
        // NCHW tiled, and the generic kernel (dilation; 6 NHWC channels, whole vectors only in fp64).
        Case{2, 8, 13, 3, 1, 1, false, 1, true}, Case{1, 16, 12, 5, 2, 1, false, 0, false},
        Case{1, 8, 10, 3, 1, 2, true, 0, true}, Case{1, 6, 9, 3, 2, 1, true, 1, true}),
    [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// The NHWC kernel with two output rows per thread (3x3 filters, fp32 and fp64): the same bounds,
// on even and odd output heights (a last row group with one row), both strides, batch > 1,
// residuals; 16-bit types are refused (shapes.h, depthwise_two_rows_supported).
class DepthwiseTwoRowsOnHost : public testing::TestWithParam<Case> {};

TEST_P(DepthwiseTwoRowsOnHost, Fp32AndFp64MatchFloat64) {
  const Case c = GetParam();
  const Activation other = kActivations[(c.height + c.batch + 1) % kActivationCount].activation;
  for (const Activation activation : {Activation::kHardswish, other}) {
    SCOPED_TRACE(activation_info(activation).name);
    EXPECT_LE(worst_error<float>(ElementType::kFloat32, c, activation, DepthwiseForm::kTwoRows), 2e-6);
    EXPECT_LE(worst_error<double>(ElementType::kFloat64, c, activation, DepthwiseForm::kTwoRows), 1e-14);
  }
}

TEST(DepthwiseTwoRows, RefusesSixteenBitTypesAndOtherFilters) {
  const DepthwiseShape nhwc_3x3{1, 16, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true};
  std::vector<__half> x(16 * 64), w(16 * 9), y(16 * 64);
  const Epilogue none;
  EXPECT_EQ(launch_depthwise_conv2d(ElementType::kFloat16, nhwc_3x3, x.data(), w.data(), y.data(), none, nullptr,
                                    DepthwiseForm::kTwoRows),
            cudaErrorInvalidValue);
  std::vector<float> xf(16 * 64), wf(16 * 25), yf(16 * 64);
  DepthwiseShape nhwc_5x5 = nhwc_3x3;
  nhwc_5x5.kernel_h = nhwc_5x5.kernel_w = 5;
  nhwc_5x5.pad_h = nhwc_5x5.pad_w = 2;
  EXPECT_EQ(launch_depthwise_conv2d(ElementType::kFloat32, nhwc_5x5, xf.data(), wf.data(), yf.data(), none, nullptr,
                                    DepthwiseForm::kTwoRows),
            cudaErrorInvalidValue);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseTwoRowsOnHost,
    testing::Values(Case{2, 200, 14, 3, 1, 1, true, 1, false}, Case{1, 12, 9, 3, 1, 1, true, 0, true},
                    Case{3, 20, 11, 3, 2, 1, true, 0, false}, Case{2, 16, 8, 3, 2, 1, true, 1, true},
                    Case{2, 36, 7, 3, 1, 1, true, 0, true}),
    [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// The NHWC kernel with the block's input tile in shared memory (fp32 and 16-bit types): the same
// bounds, on every filter size and stride, maps smaller and larger than one tile (8 rows by 16 or
// 8 columns), channel counts of one partial group (12; 20 in 16 bits), several groups with a
// partial last one (72, 200, 36 in fp32), batch > 1, residuals, the weight on and off the 16-byte
// grid; fp64 is refused.
class DepthwiseSharedTileOnHost : public testing::TestWithParam<Case> {};

TEST_P(DepthwiseSharedTileOnHost, Fp32AndSixteenBitTypesMatchFloat64) {
  const Case c = GetParam();
  const Activation other = kActivations[(c.height + c.batch + 2) % kActivationCount].activation;
  for (const Activation activation : {Activation::kHardswish, other}) {
    SCOPED_TRACE(activation_info(activation).name);
    EXPECT_LE(worst_error<float>(ElementType::kFloat32, c, activation, DepthwiseForm::kSharedTile), 2e-6);
    EXPECT_LE(worst_error<__half>(ElementType::kFloat16, c, activation, DepthwiseForm::kSharedTile), 1e-3);
    EXPECT_LE(worst_error<__nv_bfloat16>(ElementType::kBFloat16, c, activation, DepthwiseForm::kSharedTile), 8e-3);
  }
}

TEST(DepthwiseSharedTile, RefusesFp64AndOtherLayouts) {
  const DepthwiseShape nhwc_3x3{1, 16, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true};
  std::vector<double> xd(16 * 64), wd(16 * 9), yd(16 * 64);
  const Epilogue none;
  EXPECT_EQ(launch_depthwise_conv2d(ElementType::kFloat64, nhwc_3x3, xd.data(), wd.data(), yd.data(), none, nullptr,
                                    DepthwiseForm::kSharedTile),
            cudaErrorInvalidValue);
  std::vector<__half> x(16 * 64), w(16 * 9), y(16 * 64);
  DepthwiseShape nchw = nhwc_3x3;
  nchw.channels_last = false;
  EXPECT_EQ(launch_depthwise_conv2d(ElementType::kFloat16, nchw, x.data(), w.data(), y.data(), none, nullptr,
                                    DepthwiseForm::kSharedTile),
            cudaErrorInvalidValue);
  DepthwiseShape dilated = nhwc_3x3;
  dilated.dilation_h = dilated.dilation_w = 2;
  dilated.pad_h = dilated.pad_w = 2;
  EXPECT_EQ(launch_depthwise_conv2d(ElementType::kFloat16, dilated, x.data(), w.data(), y.data(), none, nullptr,
                                    DepthwiseForm::kSharedTile),
            cudaErrorInvalidValue);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseSharedTileOnHost,
    testing::Values(Case{1, 72, 28, 3, 1, 1, true, 0, true}, Case{2, 12, 9, 3, 2, 1, true, 1, false},
                    Case{1, 200, 7, 5, 1, 1, true, 1, true}, Case{1, 20, 19, 5, 2, 1, true, 0, true},
                    Case{2, 36, 10, 7, 1, 1, true, 0, false}, Case{1, 64, 17, 7, 2, 1, true, 1, true}),
    [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// The squeeze side output (launch_depthwise_conv2d_squeeze): every NHWC form that has it, fp32 and
// 16-bit types. The conv's output must equal launch_depthwise_conv2d's bit for bit, and each image's
// partial fc1 vectors, added up over its slots, must equal fc1 times the channel means of that stored
// output (float64). Partials start as NaN, so a slot no block writes shows. Cases: one and several
// blocks per image, several channel groups with a partial last one (148 channels of fp32: 37 vectors),
// stride 2, residual; fp64 and the NCHW layout are refused.
struct SqueezeCase {
  int batch, channels, hidden, height, kernel, stride;
  DepthwiseForm form;
};

template <typename T> double worst_squeeze_error(ElementType type, const SqueezeCase& c) {
  const int pad = c.kernel / 2, width = c.height + 3;
  DepthwiseShape s{c.batch, c.channels, c.height, width, (c.height + 2 * pad - c.kernel) / c.stride + 1,
                   (width + 2 * pad - c.kernel) / c.stride + 1, c.kernel, c.kernel, c.stride, c.stride, pad, pad,
                   1, 1, true};
  std::mt19937 generator(c.channels * 17 + c.hidden);
  std::normal_distribution<double> normal;
  const size_t outputs = size_t(s.batch) * s.channels * s.out_h * s.out_w;
  std::vector<T> x(size_t(s.batch) * s.channels * s.in_h * s.in_w), weight(size_t(c.kernel) * c.kernel * c.channels),
      bias(c.channels), residual(outputs), w1(size_t(c.hidden) * c.channels), y(outputs), y_alone(outputs);
  for (std::vector<T>* v : {&x, &weight, &bias, &residual, &w1}) {
    for (T& e : *v) e = from_double<T>(normal(generator));
  }
  Epilogue epilogue;
  epilogue.bias = bias.data();
  epilogue.residual = residual.data();
  epilogue.activation = Activation::kHardswish;
  const int slots = depthwise_squeeze_slots(type, s, c.form, c.hidden, true, true);
  EXPECT_GT(slots, 0);
  std::vector<float> partials(size_t(s.batch) * slots * c.hidden, std::nanf(""));
  const DepthwiseSqueeze squeeze{w1.data(), c.hidden, partials.data()};
  EXPECT_EQ(launch_depthwise_conv2d_squeeze(type, s, x.data(), weight.data(), y.data(), epilogue, squeeze, nullptr,
                                            c.form),
            cudaSuccess);
  EXPECT_EQ(launch_depthwise_conv2d(type, s, x.data(), weight.data(), y_alone.data(), epilogue, nullptr, c.form),
            cudaSuccess);
  for (size_t i = 0; i < outputs; ++i) {
    if (!(to_double(y[i]) == to_double(y_alone[i]))) return 1e9;  // not the same conv output
  }
  double worst = 0;
  const int pixels = s.out_h * s.out_w;
  for (int n = 0; n < s.batch; ++n) {
    std::vector<double> mean(c.channels, 0.0);
    for (int p = 0; p < pixels; ++p) {
      for (int ch = 0; ch < c.channels; ++ch) mean[ch] += to_double(y[(size_t(n) * pixels + p) * c.channels + ch]);
    }
    for (double& m : mean) m /= pixels;
    for (int j = 0; j < c.hidden; ++j) {
      double expected = 0, got = 0;
      for (int ch = 0; ch < c.channels; ++ch) expected += to_double(w1[size_t(j) * c.channels + ch]) * mean[ch];
      for (int slot = 0; slot < slots; ++slot) got += partials[(size_t(n) * slots + slot) * c.hidden + j];
      const double error = std::abs(got - expected) / (1 + std::abs(expected));
      if (!(error <= worst)) worst = error;
    }
  }
  return worst;
}

class DepthwiseSqueezeOnHost : public testing::TestWithParam<SqueezeCase> {};

TEST_P(DepthwiseSqueezeOnHost, PartialsAddUpToFc1OfTheOutputMeans) {
  const SqueezeCase c = GetParam();
  EXPECT_LE(worst_squeeze_error<float>(ElementType::kFloat32, c), 1e-5);
  if (c.form != DepthwiseForm::kTwoRows) {
    EXPECT_LE(worst_squeeze_error<__half>(ElementType::kFloat16, c), 1e-5);  // float sums of the stored halves
    EXPECT_LE(worst_squeeze_error<__nv_bfloat16>(ElementType::kBFloat16, c), 1e-5);
  }
}

TEST(DepthwiseSqueeze, RefusesFp64NchwAndMisalignedFc1) {
  DepthwiseShape s{1, 16, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true};
  std::vector<double> xd(16 * 64), wd(16 * 9), yd(16 * 64), w1d(4 * 16);
  std::vector<float> partials(1024);
  const Epilogue none;
  EXPECT_EQ(depthwise_squeeze_slots(ElementType::kFloat64, s, DepthwiseForm::kOneRow, 4, true, true), 0);
  EXPECT_EQ(launch_depthwise_conv2d_squeeze(ElementType::kFloat64, s, xd.data(), wd.data(), yd.data(), none,
                                            DepthwiseSqueeze{w1d.data(), 4, partials.data()}, nullptr,
                                            DepthwiseForm::kOneRow),
            cudaErrorInvalidValue);
  std::vector<float> x(16 * 64), w(16 * 9), y(16 * 64), w1(4 * 16 + 1);
  EXPECT_EQ(launch_depthwise_conv2d_squeeze(ElementType::kFloat32, s, x.data(), w.data(), y.data(), none,
                                            DepthwiseSqueeze{w1.data() + 1, 4, partials.data()}, nullptr,
                                            DepthwiseForm::kOneRow),
            cudaErrorInvalidValue);
  s.channels_last = false;
  EXPECT_EQ(depthwise_squeeze_slots(ElementType::kFloat32, s, DepthwiseForm::kOneRow, 4, true, true), 0);
}

// The excite kernel indexes batch * slots * hidden partials with an int: past that, no slots (the op
// then runs the conv and the block's own kernels), although a small batch of the layer is taken.
TEST(DepthwiseSqueeze, RefusesPartialsPastTheExciteKernelsIndex) {
  const int hidden = 4096;
  for (const DepthwiseForm form : {DepthwiseForm::kOneRow, DepthwiseForm::kTwoRows, DepthwiseForm::kSharedTile}) {
    DepthwiseShape s{2, 4096, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, true};
    const int small = depthwise_squeeze_slots(ElementType::kFloat32, s, form, hidden, true, true);
    if (form != DepthwiseForm::kTwoRows) ASSERT_GT(small, 0);
    if (small == 0) continue;
    EXPECT_LE(int64_t(s.batch) * small * hidden, INT_MAX);
    s.batch = 65536;  // 65536 * 4096 outputs still fit an int; 65536 * 16 * 4096 partials do not
    EXPECT_EQ(depthwise_squeeze_slots(ElementType::kFloat32, s, form, hidden, true, true), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseSqueezeOnHost,
    testing::Values(SqueezeCase{1, 72, 24, 14, 5, 2, DepthwiseForm::kOneRow},
                    SqueezeCase{2, 148, 12, 9, 3, 1, DepthwiseForm::kOneRow},
                    SqueezeCase{3, 16, 4, 20, 3, 1, DepthwiseForm::kOneRow},
                    SqueezeCase{2, 148, 12, 9, 3, 1, DepthwiseForm::kTwoRows},
                    SqueezeCase{2, 24, 8, 11, 3, 2, DepthwiseForm::kTwoRows},
                    SqueezeCase{2, 72, 20, 10, 5, 1, DepthwiseForm::kSharedTile},
                    SqueezeCase{1, 40, 10, 19, 3, 2, DepthwiseForm::kSharedTile},
                    SqueezeCase{2, 148, 12, 9, 7, 1, DepthwiseForm::kSharedTile}),
    [](const testing::TestParamInfo<SqueezeCase>& info) {
      const SqueezeCase& c = info.param;
      const char* form = c.form == DepthwiseForm::kOneRow ? "one_row" : c.form == DepthwiseForm::kTwoRows ? "two_rows"
                                                                                                       : "shared_tile";
      return std::string(form) + "_n" + std::to_string(c.batch) + "c" + std::to_string(c.channels) + "j" +
             std::to_string(c.hidden) + "h" + std::to_string(c.height) + "k" + std::to_string(c.kernel) + "s" +
             std::to_string(c.stride);
    });

}  // namespace
}  // namespace ifx::kernels
