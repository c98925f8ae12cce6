// Schema of ifx::linear_act, and its kernel for every backend without one of
// its own (CPU, Meta for FakeTensor / torch.compile / torch.export): the ATen
// composition, registered once as CompositeExplicitAutograd. CUDA:
// linear_act_cuda.cpp; linear_act_autograd.cpp keeps it differentiable.
#include "linear_act.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernel_dtype.h"

namespace ifx::ops {

namespace {
constexpr const char* kOp = "ifx::linear_act";
}  // namespace

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
                                const std::optional<at::Tensor>& bias, Activation activation) {
  return epilogue_reference(at::linear(input, weight, bias), std::nullopt, activation);
}

LinearCall describe_linear_act(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                    Activation activation) {
  LinearCall call;
  const bool same_device = weight.device() == input.device() && (!bias || bias->device() == input.device());
  call.kernels_apply = same_device && input.numel() > 0 && weight.numel() > 0;
  if (!call.kernels_apply) return call;
  call.dtype = *fused_element_type(input.scalar_type());
  call.in_features = input.size(-1);
  call.rows = input.numel() / call.in_features;
  call.out_features = weight.size(0);
  call.has_bias = bias.has_value();
  call.activation = activation;
  call.matmul_tf32 = at::globalContext().allowTF32CuBLAS();
  return call;
}

namespace {

at::Tensor linear_act_composite(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, c10::string_view activation) {
  check_linear_act_args(input, weight, bias);
  return linear_act_reference(input, weight, bias, parse_activation(activation, kOp));
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  // activation(linear(input, weight, bias)); activation as for conv2d_act.
  m.def("linear_act(Tensor input, Tensor weight, Tensor? bias, str activation) -> Tensor");
}

TORCH_LIBRARY_IMPL(ifx, CompositeExplicitAutograd, m) { m.impl("linear_act", &ifx::ops::linear_act_composite); }
