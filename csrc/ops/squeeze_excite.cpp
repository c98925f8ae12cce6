// Schema of ifx::squeeze_excite, and its kernel for every backend without one
// of its own (CPU, Meta): the ATen composition, registered once as
// CompositeExplicitAutograd. CUDA: squeeze_excite_cuda.cpp;
// squeeze_excite_autograd.cpp keeps it differentiable.
#include "squeeze_excite.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::squeeze_excite";

at::Tensor squeeze_excite_composite(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                    c10::string_view act1, const at::Tensor& w2, const std::optional<at::Tensor>& b2,
                                    c10::string_view gate) {
  check_squeeze_excite_args(x, w1, b1, w2, b2);
  return squeeze_excite_reference(x, w1, b1, parse_activation(act1, kOp), w2, b2, parse_activation(gate, kOp));
}

}  // namespace

void check_squeeze_excite_args(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                               const at::Tensor& w2, const std::optional<at::Tensor>& b2) {
  check_float_tensor(x, kOp, "x");
  check_float_tensor(w1, kOp, "w1");
  check_float_tensor(w2, kOp, "w2");
  TORCH_CHECK(x.dim() == 4, kOp, ": expected a 4-D x [N, C, H, W], got size ", x.sizes());
  TORCH_CHECK(w1.dim() == 2 && w1.size(1) == x.size(1), kOp, ": expected w1 [hidden, ", x.size(1), "], got ",
              w1.sizes());
  TORCH_CHECK(w2.dim() == 2 && w2.size(0) == x.size(1) && w2.size(1) == w1.size(0), kOp, ": expected w2 [",
              x.size(1), ", ", w1.size(0), "], got ", w2.sizes());
  TORCH_CHECK(w1.scalar_type() == x.scalar_type() && w2.scalar_type() == x.scalar_type(), kOp,
              ": x, w1 and w2 must have one dtype, got ", x.scalar_type(), ", ", w1.scalar_type(), ", ",
              w2.scalar_type());
  check_bias(b1, w1.size(0), x.scalar_type(), kOp);
  check_bias(b2, w2.size(0), x.scalar_type(), kOp);
}

at::Tensor squeeze_excite_reference(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                    Activation act1, const at::Tensor& w2, const std::optional<at::Tensor>& b2,
                                    Activation gate) {
  const at::Tensor pooled = x.mean({2, 3});  // [N, C]
  const at::Tensor hidden = epilogue_reference(at::linear(pooled, w1, b1), std::nullopt, act1);
  const at::Tensor scale = epilogue_reference(at::linear(hidden, w2, b2), std::nullopt, gate);
  return at::mul(x, scale.view({x.size(0), x.size(1), 1, 1}));
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // x * gate(fc2(act1(fc1(mean over H, W of x)))), the fc layers as 2-D
  // weights [hidden, C] and [C, hidden]; act1 and gate are names of
  // csrc/kernels/activations.h.
  m.def("squeeze_excite(Tensor x, Tensor w1, Tensor? b1, str act1, Tensor w2, Tensor? b2, str gate) -> Tensor");
}

TORCH_LIBRARY_IMPL(ifx, CompositeExplicitAutograd, m) {
  m.impl("squeeze_excite", &ifx::ops::squeeze_excite_composite);
}
