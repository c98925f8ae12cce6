// csrc/kernels/conv_kernels.cu's epilogue (launch_epilogue) run on the CPU
// (cuda_on_host.h): each way a 16-byte pack finds its channels (consecutive
// channels of an NHWC row, one channel for the pack in NCHW, each element's
// own), the element-wise kernel for sizes off the pack grid, and a bias off
// the 16-byte grid, for every element type and activation, with and without
// bias and residual, against float64. The reference applies the activation
// through activate<double>, the kernels' own math: what is checked here is
// which bias and residual element each output gets, the activation each
// output gets, and the rounding, not the activation formulas (the GPU tests
// compare those with torch's).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "host_values.h"
#include "kernels/activation_math.cuh"
#include "kernels/conv_kernels.h"

namespace ifx::kernels {
namespace {

struct Case {
  int rows, channels, inner;  // numel = rows * channels * inner; channel of element i: (i / inner) % channels
  int bias_offset;            // elements past a 64-byte boundary
};

std::string case_name(const Case& c) {
  return "r" + std::to_string(c.rows) + "c" + std::to_string(c.channels) + "i" + std::to_string(c.inner) +
         (c.bias_offset ? "_unaligned_bias" : "");
}

// The largest error relative to (1 + |reference|) over every activation, with
// and without bias and residual.
template <typename T> double worst_error(ElementType type, const Case& c) {
  const size_t numel = size_t(c.rows) * c.channels * c.inner;
  std::mt19937 generator(c.rows * 131 + c.channels * 7 + c.inner);
  std::normal_distribution<double> normal;
  std::vector<T> input(numel), residual(numel);
  for (T& v : input) v = from_double<T>(3 * normal(generator));
  for (T& v : residual) v = from_double<T>(normal(generator));
  std::unique_ptr<T, decltype(&std::free)> bias_storage(
      static_cast<T*>(std::aligned_alloc(64, ((c.channels + c.bias_offset) * sizeof(T) + 63) / 64 * 64)), &std::free);
  T* bias = bias_storage.get() + c.bias_offset;
  for (int i = 0; i < c.channels; ++i) bias[i] = from_double<T>(normal(generator));

  double worst = 0;
  for (int a = 0; a < kActivationCount; ++a) {
    const Activation activation = static_cast<Activation>(a);
    for (const bool with_bias : {false, true}) {
      for (const bool with_residual : {false, true}) {
        std::vector<T> data = input;
        Epilogue epilogue;
        epilogue.bias = with_bias ? bias : nullptr;
        epilogue.residual = with_residual ? residual.data() : nullptr;
        epilogue.activation = activation;
        EXPECT_EQ(launch_epilogue(type, data.data(), int64_t(numel), c.channels, c.inner, epilogue, nullptr),
                  cudaSuccess);
        for (size_t i = 0; i < numel; ++i) {
          double sum = to_double(input[i]);
          if (with_bias) sum += to_double(bias[(i / c.inner) % c.channels]);
          if (with_residual) sum += to_double(residual[i]);
          const double expected = activate(activation, sum);
          const double error = std::abs(to_double(data[i]) - expected) / (1 + std::abs(expected));
          if (!(error <= worst)) {  // a NaN output stays the worst
            worst = error;
          }
        }
      }
    }
  }
  return worst;
}

class EpilogueOnHost : public testing::TestWithParam<Case> {};

// Each type's bound: the output's one rounding, plus float arithmetic for 16-bit types.
TEST_P(EpilogueOnHost, EveryElementTypeMatchesFloat64) {
  const Case c = GetParam();
  EXPECT_LE(worst_error<float>(ElementType::kFloat32, c), 1e-6);
  EXPECT_LE(worst_error<double>(ElementType::kFloat64, c), 1e-14);
  EXPECT_LE(worst_error<__half>(ElementType::kFloat16, c), 1e-3);
  EXPECT_LE(worst_error<__nv_bfloat16>(ElementType::kBFloat16, c), 8e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, EpilogueOnHost,
    testing::Values(
        // NHWC / linear rows (inner 1): consecutive channels per pack where channels fill whole
        // 16-byte packs of every type (16, 24), each element's own where they do not (12 for
        // 16-bit types, 6), and with the bias off the 16-byte grid.
        Case{5, 16, 1, 0}, Case{3, 24, 1, 0}, Case{4, 12, 1, 0}, Case{4, 6, 1, 0}, Case{5, 16, 1, 1},
        // NCHW: one channel per pack where H*W is a whole number of packs (16, 8 for 32-bit and
        // wider types only), each element's own otherwise (12, 5).
        Case{2, 3, 16, 0}, Case{2, 5, 8, 1}, Case{2, 4, 12, 0}, Case{3, 4, 5, 0},
        // Off the pack grid altogether: the element-wise kernel.
        Case{1, 3, 7, 0}),
    [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

}  // namespace
}  // namespace ifx::kernels
