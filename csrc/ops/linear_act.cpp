// Schema of ifx::linear_act. Kernels: linear_act_cpu.cpp, linear_act_cuda.cpp,
// linear_act_meta.cpp; linear_act_autograd.cpp keeps it differentiable.
#include "linear_act.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ifx::ops {

namespace {
constexpr const char* kOp = "ifx::linear_act";
}

void check_linear_act_args(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  check_float_tensor(input, kOp, "input");
  check_float_tensor(weight, kOp, "weight");
  TORCH_CHECK(input.dim() >= 1, kOp, ": expected an input with at least one dimension");
  TORCH_CHECK(weight.dim() == 2, kOp, ": expected a 2-D weight, got size ", weight.sizes());
  TORCH_CHECK(input.size(-1) == weight.size(1), kOp, ": input features (", input.size(-1),
              ") do not match the weight ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), kOp, ": input (", input.scalar_type(), ") and weight (",
              weight.scalar_type(), ") must have the same dtype");
  check_bias(bias, weight.size(0), input.scalar_type(), kOp);
}

at::Tensor linear_act_reference(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, EpilogueActivation activation) {
  return epilogue_reference(at::linear(input, weight, bias), std::nullopt, activation);
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // activation(linear(input, weight, bias)); activation as for conv2d_act.
  m.def("linear_act(Tensor input, Tensor weight, Tensor? bias, str activation) -> Tensor");
}
