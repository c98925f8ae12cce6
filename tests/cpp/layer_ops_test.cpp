// ifx::conv2d_act and ifx::linear_act through the dispatcher on CPU and Meta:
// values equal to the ATen ops they replace, output layouts that the meta
// kernel predicts, and readable errors.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include "test_utils.h"

namespace ifx_test {
namespace {

using Conv2dActFn = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, at::IntArrayRef,
                               at::IntArrayRef, at::IntArrayRef, int64_t, const std::optional<at::Tensor>&,
                               c10::string_view);
using LinearActFn = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                               c10::string_view);

at::Tensor conv2d_act(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& b,
                      at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                      const std::optional<at::Tensor>& residual, const std::string& activation) {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("ifx::conv2d_act", "").typed<Conv2dActFn>();
  return op.call(x, w, b, stride, padding, dilation, groups, residual, activation);
}

at::Tensor linear_act(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& b,
                      const std::string& activation) {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("ifx::linear_act", "").typed<LinearActFn>();
  return op.call(x, w, b, activation);
}

at::Tensor apply_activation(const at::Tensor& y, const std::string& name) {
  if (name == "relu") return at::relu(y);
  if (name == "relu6") return at::hardtanh(y, 0, 6);
  if (name == "hardswish") return at::hardswish(y);
  if (name == "hardsigmoid") return at::hardsigmoid(y);
  if (name == "silu") return at::silu(y);
  if (name == "sigmoid") return at::sigmoid(y);
  return y;
}

const std::vector<std::string> kActivations = {"none", "relu", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid"};

TEST(Conv2dActOp, MatchesAtenForEveryActivationWithAndWithoutResidual) {
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    const at::Tensor x = activation_input(dtype, {2, 6, 11, 11});
    const at::Tensor w = at::randn({6, 3, 3, 3}, dtype);  // groups = 2
    const at::Tensor b = at::randn({6}, dtype);
    const at::Tensor r = at::randn({2, 6, 6, 6}, dtype);
    const double tolerance = dtype == at::kDouble ? 1e-12 : 1e-5;
    for (const auto& name : kActivations) {
      SCOPED_TRACE(name + " " + c10::toString(dtype));
      const at::Tensor y = at::conv2d(x, w, b, {2, 2}, {1, 1}, {1, 1}, 2);
      expect_tensors_close(conv2d_act(x, w, b, {2, 2}, {1, 1}, {1, 1}, 2, std::nullopt, name),
                           apply_activation(y, name), tolerance);
      expect_tensors_close(conv2d_act(x, w, b, {2, 2}, {1, 1}, {1, 1}, 2, r, name), apply_activation(y + r, name),
                           tolerance);
    }
  }
}

TEST(Conv2dActOp, BroadcastsAndPromotesTheResidualLikeAdd) {
  const at::Tensor x = activation_input(at::kFloat, {1, 4, 5, 5});
  const at::Tensor w = at::randn({4, 4, 1, 1});
  const at::Tensor per_channel = at::randn({4, 1, 1}, at::kDouble);
  const at::Tensor out = conv2d_act(x, w, std::nullopt, {1, 1}, {0, 0}, {1, 1}, 1, per_channel, "relu");
  expect_tensors_close(out, at::relu(at::conv2d(x, w) + per_channel), 1e-6);
}

TEST(Conv2dActOp, TakesUnbatchedInput) {
  const at::Tensor x = activation_input(at::kDouble, {4, 7, 7});
  const at::Tensor w = at::randn({5, 4, 3, 3}, at::kDouble);
  expect_tensors_close(conv2d_act(x, w, std::nullopt, {1, 1}, {1, 1}, {1, 1}, 1, std::nullopt, "silu"),
                       at::silu(at::conv2d(x, w, {}, {1, 1}, {1, 1})), 1e-12);
}

TEST(Conv2dActOp, MetaKernelPredictsShapeDtypeAndLayout) {
  for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const at::Tensor x = activation_input(at::kFloat, {2, 8, 9, 9}).contiguous(format);
    const at::Tensor w = at::randn({8, 1, 5, 5});
    const at::Tensor b = at::randn({8});
    const at::Tensor real = conv2d_act(x, w, b, {2, 2}, {2, 2}, {1, 1}, 8, std::nullopt, "hardswish");
    const at::Tensor fake = conv2d_act(x.to(at::kMeta), w.to(at::kMeta), b.to(at::kMeta), {2, 2}, {2, 2}, {1, 1}, 8,
                                       std::nullopt, "hardswish");
    EXPECT_EQ(fake.sizes(), real.sizes());
    EXPECT_EQ(fake.strides(), real.strides());
    EXPECT_EQ(fake.scalar_type(), real.scalar_type());
    EXPECT_TRUE(real.is_contiguous(format));
  }
}

TEST(Conv2dActOp, RejectsUnknownActivationAndIntegerInput) {
  const at::Tensor x = at::randn({1, 2, 4, 4});
  const at::Tensor w = at::randn({2, 2, 1, 1});
  EXPECT_THROW(
      {
        try {
          conv2d_act(x, w, std::nullopt, {1, 1}, {0, 0}, {1, 1}, 1, std::nullopt, "gelu");
        } catch (const c10::Error& e) {
          EXPECT_NE(std::string(e.what()).find("unknown activation 'gelu'"), std::string::npos) << e.what();
          throw;
        }
      },
      c10::Error);
  EXPECT_THROW(
      {
        try {
          conv2d_act(x.to(at::kInt), w.to(at::kInt), std::nullopt, {1, 1}, {0, 0}, {1, 1}, 1, std::nullopt, "relu");
        } catch (const c10::Error& e) {
          EXPECT_NE(std::string(e.what()).find("ifx::conv2d_act: expected input to be a float32"), std::string::npos)
              << e.what();
          throw;
        }
      },
      c10::Error);
}

TEST(Conv2dActOp, GradientsEqualEager) {
  const at::Tensor x = activation_input(at::kDouble, {1, 3, 6, 6}).requires_grad_();
  const at::Tensor w = at::randn({4, 3, 3, 3}, at::kDouble).requires_grad_();
  const at::Tensor r = at::randn({1, 4, 6, 6}, at::kDouble).requires_grad_();
  const auto fused = conv2d_act(x, w, std::nullopt, {1, 1}, {1, 1}, {1, 1}, 1, r, "hardswish").sum();
  const auto fused_grads = torch::autograd::grad({fused}, {x, w, r});
  const auto eager = at::hardswish(at::conv2d(x, w, {}, {1, 1}, {1, 1}) + r).sum();
  const auto eager_grads = torch::autograd::grad({eager}, {x, w, r});
  for (size_t i = 0; i < 3; ++i) expect_tensors_close(fused_grads[i], eager_grads[i], 1e-12);
}

TEST(LinearActOp, MatchesAtenForEveryActivation) {
  const at::Tensor x = activation_input(at::kDouble, {3, 2, 5});
  const at::Tensor w = at::randn({7, 5}, at::kDouble);
  const at::Tensor b = at::randn({7}, at::kDouble);
  for (const auto& name : kActivations) {
    SCOPED_TRACE(name);
    expect_tensors_close(linear_act(x, w, b, name), apply_activation(at::linear(x, w, b), name), 1e-12);
    const at::Tensor fake = linear_act(x.to(at::kMeta), w.to(at::kMeta), b.to(at::kMeta), name);
    EXPECT_EQ(fake.sizes(), (std::vector<int64_t>{3, 2, 7}));
  }
}

TEST(LinearActOp, RejectsMismatchedFeatures) {
  EXPECT_THROW(linear_act(at::randn({2, 4}), at::randn({3, 5}), std::nullopt, "relu"), c10::Error);
}

}  // namespace
}  // namespace ifx_test
