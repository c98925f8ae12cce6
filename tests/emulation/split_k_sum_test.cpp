// csrc/kernels/split_k_sum_kernels.cu run on the CPU (cuda_on_host.h): the
// second kernel of the split-K linear path adds each element's partial sums
// in part order and applies the epilogue with the element's own bias channel
// and residual, across block boundaries and partial last blocks. The sum is
// checked bit for bit against the same float additions made in part order
// (so the result cannot depend on which part finished first), the epilogue
// against float64 through activate<double>, the kernels' own math.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/activation_math.cuh"
#include "kernels/split_k_sum_kernels.h"

namespace ifx::kernels {
namespace {

struct Case {
  int slices, rows, channels;
};

std::string case_name(const Case& c) {
  return "s" + std::to_string(c.slices) + "r" + std::to_string(c.rows) + "c" + std::to_string(c.channels);
}

class SplitKSumOnHost : public testing::TestWithParam<Case> {};

TEST_P(SplitKSumOnHost, AddsThePartsInOrderThenAppliesTheEpilogue) {
  const Case c = GetParam();
  const int64_t elements = int64_t(c.rows) * c.channels;
  std::mt19937 generator(c.slices * 1009 + c.rows * 31 + c.channels);
  std::normal_distribution<float> normal;
  std::vector<float> partials(size_t(c.slices) * elements), bias(c.channels), residual(elements);
  for (float& v : partials) v = 4 * normal(generator);
  for (float& v : bias) v = normal(generator);
  for (float& v : residual) v = normal(generator);

  std::vector<float> in_order(elements);
  for (int64_t e = 0; e < elements; ++e) {
    float sum = partials[e];
    for (int s = 1; s < c.slices; ++s) sum += partials[s * elements + e];
    in_order[e] = sum;
  }

  std::vector<float> output(elements, NAN);
  ASSERT_EQ(launch_split_k_sum(partials.data(), c.slices, elements, c.channels, output.data(), Epilogue{}, nullptr),
            cudaSuccess);
  for (int64_t e = 0; e < elements; ++e) ASSERT_EQ(output[e], in_order[e]) << "element " << e;

  for (int a = 0; a < kActivationCount; ++a) {
    const Activation activation = static_cast<Activation>(a);
    for (const bool with_bias : {false, true}) {
      for (const bool with_residual : {false, true}) {
        Epilogue epilogue;
        epilogue.bias = with_bias ? bias.data() : nullptr;
        epilogue.residual = with_residual ? residual.data() : nullptr;
        epilogue.activation = activation;
        std::fill(output.begin(), output.end(), NAN);
        ASSERT_EQ(launch_split_k_sum(partials.data(), c.slices, elements, c.channels, output.data(), epilogue, nullptr),
                  cudaSuccess);
        for (int64_t e = 0; e < elements; ++e) {
          double value = in_order[e];
          if (with_bias) value += bias[e % c.channels];
          if (with_residual) value += residual[e];
          const double expected = activate(activation, value);
          ASSERT_LE(std::abs(output[e] - expected), 2e-6 * (1 + std::abs(expected)))
              << "element " << e << ", activation " << a << ", bias " << with_bias << ", residual " << with_residual;
        }
      }
    }
  }
}

// The residual may be the output itself: each element is read before the same thread writes it.
TEST(SplitKSumOnHostInPlace, ResidualAsTheOutput) {
  const int slices = 3, channels = 5;
  const int64_t elements = 4 * channels;
  std::vector<float> partials(slices * elements), output(elements);
  for (size_t i = 0; i < partials.size(); ++i) partials[i] = float(i % 7) - 3;
  for (int64_t e = 0; e < elements; ++e) output[e] = float(e) / 4;
  const std::vector<float> residual = output;
  Epilogue epilogue;
  epilogue.residual = output.data();
  ASSERT_EQ(launch_split_k_sum(partials.data(), slices, elements, channels, output.data(), epilogue, nullptr),
            cudaSuccess);
  for (int64_t e = 0; e < elements; ++e) {
    EXPECT_EQ(output[e], partials[e] + partials[elements + e] + partials[2 * elements + e] + residual[e]);
  }
}

TEST(SplitKSumOnHostArguments, RefusesWhatItCannotDo) {
  std::vector<float> partials(8), output(4);
  EXPECT_EQ(launch_split_k_sum(nullptr, 2, 4, 2, output.data(), Epilogue{}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_split_k_sum(partials.data(), 2, 4, 2, nullptr, Epilogue{}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_split_k_sum(partials.data(), 0, 4, 2, output.data(), Epilogue{}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_split_k_sum(partials.data(), 2, 4, 0, output.data(), Epilogue{}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_split_k_sum(partials.data(), 2, -1, 2, output.data(), Epilogue{}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_split_k_sum(partials.data(), 2, 0, 2, output.data(), Epilogue{}, nullptr), cudaSuccess);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SplitKSumOnHost,
    testing::Values(Case{2, 3, 5},      // one partial block
                    Case{13, 9, 37},    // mobilenet_v3_large's part count; 333 elements: a second, partial block
                    Case{32, 2, 300},   // the most parts; 600 elements over three blocks
                    Case{1, 4, 64}),    // one part: a copy through the epilogue
    [](const testing::TestParamInfo<Case>& info) { return case_name(info.param); });

}  // namespace
}  // namespace ifx::kernels
