// The ifx::hardswish / ifx::hardsigmoid ops through the dispatcher, on CPU
// and Meta: values equal to ATen's, output layouts, dtype checks.
#include <ATen/core/dispatch/Dispatcher.h>

#include <string>

#include "test_utils.h"

namespace ifx_test {
namespace {

using UnaryFn = at::Tensor (*)(const at::Tensor&);

at::Tensor call_op(const char* name, const at::Tensor& x) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .typed<at::Tensor(const at::Tensor&)>()
      .call(x);
}

at::Tensor ifx_hardswish(const at::Tensor& x) { return call_op("ifx::hardswish", x); }
at::Tensor ifx_hardsigmoid(const at::Tensor& x) { return call_op("ifx::hardsigmoid", x); }
at::Tensor aten_hardswish(const at::Tensor& x) { return at::hardswish(x); }
at::Tensor aten_hardsigmoid(const at::Tensor& x) { return at::hardsigmoid(x); }

struct Activation {
  std::string name;  // the op's qualified name, as its error messages spell it
  UnaryFn op;
  UnaryFn reference;
  // Exact values at the kinks, the saturated ends and between.
  std::vector<std::pair<double, double>> points;
};

void PrintTo(const Activation& activation, std::ostream* os) { *os << activation.name; }

const Activation kHardswish{"ifx::hardswish", ifx_hardswish, aten_hardswish,
                            {{-7, 0}, {-3, 0}, {-1.5, -0.375}, {1.5, 1.125}, {3, 3}, {4, 4}, {7, 7}}};
const Activation kHardsigmoid{"ifx::hardsigmoid", ifx_hardsigmoid, aten_hardsigmoid,
                              {{-7, 0}, {-3, 0}, {-1.5, 0.25}, {0, 0.5}, {1.5, 0.75}, {3, 1}, {4, 1}, {7, 1}}};

class ActivationOp : public testing::TestWithParam<Activation> {};

TEST_P(ActivationOp, SchemaIsRegistered) {
  const auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(GetParam().name.c_str(), "");
  EXPECT_EQ(c10::toString(handle.schema()), GetParam().name + "(Tensor x) -> Tensor");
}

TEST_P(ActivationOp, MatchesAtenInFloat64AndFloat32) {
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor x = activation_input(dtype, {3, 7, 11});
    // Both compute the same formula; float32 may differ in the last bit.
    expect_tensors_close(GetParam().op(x), GetParam().reference(x), dtype == at::kDouble ? 0 : 1e-6);
  }
}

TEST_P(ActivationOp, ExactAtKinksAndSaturation) {
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    for (const auto& [input, expected] : GetParam().points) {
      const at::Tensor y = GetParam().op(at::full({1}, input, at::TensorOptions().dtype(dtype)));
      EXPECT_EQ(y.item<double>(), expected) << GetParam().name << "(" << input << ") in " << dtype;
    }
  }
}

TEST_P(ActivationOp, KeepsChannelsLast) {
  const at::Tensor x = activation_input(at::kFloat, {2, 3, 4, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor y = GetParam().op(x);
  EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(y.is_contiguous());
  expect_tensors_close(y, GetParam().reference(x), 1e-6);
}

// A transpose is still dense: the output takes its strides.
TEST_P(ActivationOp, KeepsDensePermutedStrides) {
  const at::Tensor x = activation_input(at::kFloat, {6, 5}).t();
  const at::Tensor y = GetParam().op(x);
  EXPECT_EQ(y.strides(), x.strides());
  expect_tensors_close(y, GetParam().reference(x), 1e-6);
}

// Every other column: not dense, so the output is contiguous.
TEST_P(ActivationOp, AcceptsNonDenseView) {
  const at::Tensor x = activation_input(at::kDouble, {4, 10}).slice(/*dim=*/1, 0, 10, 2);
  ASSERT_FALSE(x.is_non_overlapping_and_dense());
  const at::Tensor y = GetParam().op(x);
  EXPECT_TRUE(y.is_contiguous());
  expect_tensors_close(y, GetParam().reference(x.contiguous()), 0);
}

TEST_P(ActivationOp, AcceptsZeroSizeInput) {
  const at::Tensor y = GetParam().op(at::empty({0, 3}, at::kFloat));
  EXPECT_EQ(y.sizes(), at::IntArrayRef({0, 3}));
  EXPECT_EQ(y.scalar_type(), at::kFloat);
}

TEST_P(ActivationOp, RejectsIntegerInputByName) {
  for (const auto dtype : {at::kLong, at::kInt, at::kBool}) {
    try {
      GetParam().op(at::ones({4}, at::TensorOptions().dtype(dtype)));
      ADD_FAILURE() << GetParam().name << " accepted " << dtype;
    } catch (const c10::Error& error) {
      EXPECT_NE(std::string(error.what()).find(GetParam().name), std::string::npos) << error.what();
    }
  }
}

// Half precision on CPU: within a few half ulps of the float32 result.
TEST_P(ActivationOp, ComputesHalfAndBFloat16) {
  const at::Tensor x = activation_input(at::kFloat, {64});
  for (const auto dtype : {at::kHalf, at::kBFloat16}) {
    const at::Tensor x_low = x.to(dtype);
    const at::Tensor y = GetParam().op(x_low);
    ASSERT_EQ(y.scalar_type(), dtype);
    const at::Tensor expected = GetParam().reference(x_low.to(at::kFloat));
    const double tolerance = dtype == at::kHalf ? 1e-2 : 5e-2;
    EXPECT_TRUE(at::allclose(y.to(at::kFloat), expected, tolerance, tolerance)) << dtype;
    EXPECT_TRUE(at::equal(y, GetParam().reference(x_low))) << dtype;
  }
}

// The meta kernel gives the CPU kernel's shape, dtype and strides.
TEST_P(ActivationOp, MetaMatchesCpuLayout) {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kHalf);
  const at::Tensor x = at::empty({2, 3, 4, 5}, meta).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor y = GetParam().op(x);
  EXPECT_TRUE(y.is_meta());
  EXPECT_EQ(y.scalar_type(), at::kHalf);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(y.strides(), x.strides());
  EXPECT_THROW(GetParam().op(at::empty({2}, at::TensorOptions().device(at::kMeta).dtype(at::kLong))),
               c10::Error);
}

INSTANTIATE_TEST_SUITE_P(Ops, ActivationOp, testing::Values(kHardswish, kHardsigmoid),
                         [](const testing::TestParamInfo<Activation>& info) {
                           return info.param.name.substr(info.param.name.find(':') + 2);
                         });

}  // namespace
}  // namespace ifx_test
