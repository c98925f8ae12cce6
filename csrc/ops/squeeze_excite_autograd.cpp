// Autograd kernel of ifx::squeeze_excite. Inference skips autograd entirely;
// when something requires grad, the op runs as its ATen composition, whose
// ops record their own backward, so gradients equal eager's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "squeeze_excite.h"

namespace ifx::ops {
namespace {

using SqueezeExciteOp = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view);

at::Tensor squeeze_excite_autograd(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                                   c10::string_view act1, const at::Tensor& w2, const std::optional<at::Tensor>& b2,
                                   c10::string_view gate) {
  const bool records_gradient =
      at::GradMode::is_enabled() && (x.requires_grad() || w1.requires_grad() || w2.requires_grad() ||
                                     (b1 && b1->requires_grad()) || (b2 && b2->requires_grad()));
  if (records_gradient) {
    check_squeeze_excite_args(x, w1, b1, w2, b2);
    return squeeze_excite_reference(x, w1, b1, parse_activation(act1, "ifx::squeeze_excite"), w2, b2,
                                    parse_activation(gate, "ifx::squeeze_excite"));
  }
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("ifx::squeeze_excite", "").typed<SqueezeExciteOp>();
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(x, w1, b1, act1, w2, b2, gate);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Autograd, m) { m.impl("squeeze_excite", &ifx::ops::squeeze_excite_autograd); }
