// csrc/kernels/squeeze_excite_kernels.cu run on the CPU (cuda_on_host.h): the
// block with its gates in the excite kernel's blocks and in a gate kernel of
// their own, NCHW and NHWC, on the 16-byte vector path and off it, for each
// element type, against a float64 reference of the same rounded inputs (its
// activations the kernels' own activate<double>). Also the kernels after the squeeze
// alone, in place, on partials the host computes (as the depthwise conv's side
// output leaves them). This checks indexing, barriers, shuffles and numerics on
// a machine without a GPU; speed is for the GPU machine.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "host_values.h"
#include "kernels/activation_math.cuh"
#include "kernels/squeeze_excite_kernels.h"

namespace ifx::kernels {
namespace {

struct Case {
  int batch, channels, hidden, pixels;
  bool channels_last;
};

std::string case_name(const Case& c) {
  return "n" + std::to_string(c.batch) + "c" + std::to_string(c.channels) + "h" + std::to_string(c.hidden) + "p" +
         std::to_string(c.pixels) + (c.channels_last ? "_nhwc" : "_nchw");
}

constexpr Activation kAct1 = Activation::kSilu;
constexpr Activation kGate = Activation::kHardsigmoid;

template <typename T> struct Block {
  std::vector<T> x, w1, b1, w2, b2;
};

template <typename T> Block<T> random_block(const Case& c) {
  std::mt19937 generator(c.channels * 31 + c.hidden * 7 + c.pixels);
  std::normal_distribution<double> normal;
  Block<T> b{std::vector<T>(size_t(c.batch) * c.channels * c.pixels), std::vector<T>(size_t(c.hidden) * c.channels),
             std::vector<T>(c.hidden), std::vector<T>(size_t(c.channels) * c.hidden), std::vector<T>(c.channels)};
  for (T& v : b.x) v = from_double<T>(2 * normal(generator));
  for (T& v : b.w1) v = from_double<T>(normal(generator) / std::sqrt(double(c.channels)));
  for (T& v : b.b1) v = from_double<T>(normal(generator));
  for (T& v : b.w2) v = from_double<T>(normal(generator) / std::sqrt(double(c.hidden)));
  for (T& v : b.b2) v = from_double<T>(normal(generator));
  return b;
}

size_t at(const Case& c, int n, int ch, int p) {
  return c.channels_last ? (size_t(n) * c.pixels + p) * c.channels + ch : (size_t(n) * c.channels + ch) * c.pixels + p;
}

// fc1 of each image's channel means, [image][hidden], in double.
template <typename T> std::vector<double> fc1_of_means(const Case& c, const Block<T>& b) {
  std::vector<double> fc1(size_t(c.batch) * c.hidden, 0.0);
  for (int n = 0; n < c.batch; ++n) {
    for (int ch = 0; ch < c.channels; ++ch) {
      double sum = 0;
      for (int p = 0; p < c.pixels; ++p) sum += to_double(b.x[at(c, n, ch, p)]);
      for (int j = 0; j < c.hidden; ++j) fc1[size_t(n) * c.hidden + j] += to_double(b.w1[size_t(j) * c.channels + ch]) * sum / c.pixels;
    }
  }
  return fc1;
}

// The largest error of y relative to (1 + |reference|).
template <typename T> double worst_error(const Case& c, const Block<T>& b, const std::vector<T>& y) {
  const std::vector<double> fc1 = fc1_of_means(c, b);
  double worst = 0;
  for (int n = 0; n < c.batch; ++n) {
    std::vector<double> hidden(c.hidden);
    for (int j = 0; j < c.hidden; ++j) hidden[j] = activate(kAct1, fc1[size_t(n) * c.hidden + j] + to_double(b.b1[j]));
    for (int ch = 0; ch < c.channels; ++ch) {
      double dot = to_double(b.b2[ch]);
      for (int j = 0; j < c.hidden; ++j) dot += to_double(b.w2[size_t(ch) * c.hidden + j]) * hidden[j];
      const double gate = activate(kGate, dot);
      for (int p = 0; p < c.pixels; ++p) {
        const double expected = to_double(b.x[at(c, n, ch, p)]) * gate;
        const double error = std::abs(to_double(y[at(c, n, ch, p)]) - expected) / (1 + std::abs(expected));
        if (!(error <= worst)) worst = error;  // NaN counts as the worst
      }
    }
  }
  return worst;
}

// The whole block (launch_squeeze_excite) in one form: y, with the error checked by the caller.
template <typename T>
std::vector<T> run_block(ElementType type, const Case& c, const Block<T>& b, SqueezeExciteGates gates) {
  const SqueezeExciteShape shape{c.batch, c.channels, c.hidden, c.pixels, c.channels_last};
  std::vector<double> workspace(squeeze_excite_workspace_bytes(shape, gates) / sizeof(double) + 1, std::nan(""));
  std::vector<T> y(b.x.size(), from_double<T>(std::nan("")));
  EXPECT_EQ(launch_squeeze_excite(type, shape, gates, b.x.data(), b.w1.data(), b.b1.data(), kAct1, b.w2.data(),
                                  b.b2.data(), kGate, y.data(), workspace.data(), nullptr),
            cudaSuccess);
  return y;
}

// The kernels after the squeeze alone, in place (y is x), on one partial vector per image: fc1 of
// the means, rounded to the compute type as a squeeze would leave it.
template <typename T, typename C>
std::vector<T> run_after_squeeze(ElementType type, const Case& c, const Block<T>& b, SqueezeExciteGates gates) {
  const SqueezeExciteShape shape{c.batch, c.channels, c.hidden, c.pixels, c.channels_last};
  const std::vector<double> fc1 = fc1_of_means(c, b);
  std::vector<C> partials(fc1.begin(), fc1.end());
  std::vector<double> gate_workspace(squeeze_excite_gate_bytes(shape) / sizeof(double), std::nan(""));
  std::vector<T> y = b.x;
  EXPECT_EQ(launch_excite(type, shape, gates, 1, partials.data(), gate_workspace.data(), y.data(), b.b1.data(), kAct1,
                          b.w2.data(), b.b2.data(), kGate, y.data(), nullptr),
            cudaSuccess);
  return y;
}

template <typename T, typename C> void check_type(ElementType type, const Case& c, double tolerance) {
  SCOPED_TRACE("element size " + std::to_string(element_size(type)) + (type == ElementType::kBFloat16 ? " (bf16)" : ""));
  const Block<T> b = random_block<T>(c);
  const std::vector<T> in_blocks = run_block(type, c, b, SqueezeExciteGates::kInExciteBlocks);
  const std::vector<T> gate_kernel = run_block(type, c, b, SqueezeExciteGates::kGateKernel);
  EXPECT_LE(worst_error(c, b, in_blocks), tolerance);
  EXPECT_LE(worst_error(c, b, gate_kernel), tolerance);
  const std::vector<T> after_in_blocks = run_after_squeeze<T, C>(type, c, b, SqueezeExciteGates::kInExciteBlocks);
  const std::vector<T> after_gate_kernel = run_after_squeeze<T, C>(type, c, b, SqueezeExciteGates::kGateKernel);
  EXPECT_LE(worst_error(c, b, after_in_blocks), tolerance);
  EXPECT_LE(worst_error(c, b, after_gate_kernel), tolerance);
}

class SqueezeExciteOnHost : public testing::TestWithParam<Case> {};

// Tolerances: fp32 and fp64 at their rounding of sums over at most a few thousand terms; 16-bit
// types at one rounding of the stored output (2^-11 and 2^-8 relative), with room for the
// rounded partial sums.
TEST_P(SqueezeExciteOnHost, BothGateFormsMatchFloat64) {
  const Case c = GetParam();
  check_type<double, double>(ElementType::kFloat64, c, 1e-12);
  check_type<float, float>(ElementType::kFloat32, c, 1e-5);
  check_type<__half, float>(ElementType::kFloat16, c, 1e-3);
  check_type<__nv_bfloat16, float>(ElementType::kBFloat16, c, 8e-3);
}

TEST(SqueezeExcite, GateKernelNeedsItsWorkspace) {
  const SqueezeExciteShape shape{1, 8, 2, 4, true};
  std::vector<float> x(32), w2(16), partials(2);
  EXPECT_EQ(launch_excite(ElementType::kFloat32, shape, SqueezeExciteGates::kGateKernel, 1, partials.data(), nullptr,
                          x.data(), nullptr, kAct1, w2.data(), nullptr, kGate, x.data(), nullptr),
            cudaErrorInvalidValue);
}

// Vector and scalar paths in both layouts (NHWC needs channels, NCHW pixels, in whole 16-byte
// vectors), several images to a block (batch >= 16 with hidden >= pixels / 8) with a last group
// short, and more channels than one gate tile of 128.
INSTANTIATE_TEST_SUITE_P(Shapes, SqueezeExciteOnHost,
                         testing::Values(Case{2, 40, 10, 81, true}, Case{2, 24, 6, 64, false},
                                         Case{3, 13, 5, 81, true}, Case{3, 13, 5, 81, false},
                                         Case{17, 40, 12, 16, true}, Case{2, 136, 8, 16, true}),
                         [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

}  // namespace
}  // namespace ifx::kernels
