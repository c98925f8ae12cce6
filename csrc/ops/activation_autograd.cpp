// Autograd kernels of ifx::hardswish / ifx::hardsigmoid, so an optimized model
// called on inputs that require grad gives the same gradients as eager
// (ATen's own backward formulas), on every backend.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace ifx::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using UnaryOp = c10::TypedOperatorHandle<at::Tensor(const at::Tensor&)>;

UnaryOp find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<at::Tensor(const at::Tensor&)>();
}

struct Hardswish {
  static const UnaryOp& op() {
    static const UnaryOp handle = find_op("ifx::hardswish");
    return handle;
  }
  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& x) { return at::hardswish_backward(grad, x); }
};

struct Hardsigmoid {
  static const UnaryOp& op() {
    static const UnaryOp handle = find_op("ifx::hardsigmoid");
    return handle;
  }
  static at::Tensor backward(const at::Tensor& grad, const at::Tensor& x) {
    return at::hardsigmoid_backward(grad, x);
  }
};

template <typename Activation>
struct ActivationFunction : public torch::autograd::Function<ActivationFunction<Activation>> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return Activation::op().call(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    return {Activation::backward(grad_outputs[0], ctx->get_saved_variables()[0])};
  }
};

// Inference (the common case) skips building an autograd node: that cost
// ~2 us of host time per call, which adds up over a small-batch forward.
template <typename Activation>
at::Tensor activation_autograd(const at::Tensor& x) {
  if (!at::GradMode::is_enabled() || !x.requires_grad()) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return Activation::op().call(x);
  }
  return ActivationFunction<Activation>::apply(x);
}

at::Tensor hardswish_autograd(const at::Tensor& x) { return activation_autograd<Hardswish>(x); }
at::Tensor hardsigmoid_autograd(const at::Tensor& x) { return activation_autograd<Hardsigmoid>(x); }

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) {
  m.impl("hardswish", &ifx::ops::hardswish_autograd);
  m.impl("hardsigmoid", &ifx::ops::hardsigmoid_autograd);
}
