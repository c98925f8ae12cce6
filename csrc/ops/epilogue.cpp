#include "epilogue.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <string>

namespace ifx::ops {

EpilogueActivation parse_activation(c10::string_view name, const char* op_name) {
  if (name == "none") return EpilogueActivation::kNone;
  if (name == "relu") return EpilogueActivation::kRelu;
  if (name == "relu6") return EpilogueActivation::kRelu6;
  if (name == "hardswish") return EpilogueActivation::kHardswish;
  if (name == "hardsigmoid") return EpilogueActivation::kHardsigmoid;
  if (name == "silu") return EpilogueActivation::kSilu;
  if (name == "sigmoid") return EpilogueActivation::kSigmoid;
  TORCH_CHECK(false, op_name, ": unknown activation '", std::string(name),
              "'; expected one of none, relu, relu6, hardswish, hardsigmoid, silu, sigmoid");
}

at::Tensor epilogue_reference(at::Tensor y, const std::optional<at::Tensor>& residual,
                              EpilogueActivation activation) {
  // Out of place while autograd records (in-place ops would overwrite values
  // it saved); in place otherwise, since `y` is ours.
  const bool in_place = !(c10::GradMode::is_enabled() && (y.requires_grad() || (residual && residual->requires_grad())));
  if (residual.has_value()) y = at::add(y, *residual);
  switch (activation) {
    case EpilogueActivation::kNone: return y;
    case EpilogueActivation::kRelu: return in_place ? at::relu_(y) : at::relu(y);
    case EpilogueActivation::kRelu6: return in_place ? at::hardtanh_(y, 0, 6) : at::hardtanh(y, 0, 6);
    case EpilogueActivation::kHardswish: return in_place ? at::hardswish_(y) : at::hardswish(y);
    case EpilogueActivation::kHardsigmoid: return in_place ? at::hardsigmoid_(y) : at::hardsigmoid(y);
    case EpilogueActivation::kSilu: return in_place ? at::silu_(y) : at::silu(y);
    case EpilogueActivation::kSigmoid: return in_place ? at::sigmoid_(y) : at::sigmoid(y);
  }
  return y;
}

void check_bias(const std::optional<at::Tensor>& bias, int64_t features, c10::ScalarType dtype, const char* op_name) {
  if (!bias.has_value()) return;
  TORCH_CHECK(bias->dim() == 1 && bias->size(0) == features, op_name, ": expected a bias of size [", features,
              "], got ", bias->sizes());
  TORCH_CHECK(bias->scalar_type() == dtype, op_name, ": bias dtype ", bias->scalar_type(), " differs from the input's ",
              dtype);
}

void check_float_tensor(const at::Tensor& t, const char* op_name, const char* argument) {
  TORCH_CHECK(t.layout() == at::kStrided, op_name, ": expected ", argument, " to be a strided (dense) tensor, got layout ",
              t.layout());
  const auto type = t.scalar_type();
  TORCH_CHECK(type == at::kFloat || type == at::kHalf || type == at::kBFloat16 || type == at::kDouble, op_name,
              ": expected ", argument, " to be a float32, float16, bfloat16 or float64 tensor, got ", type);
}

}  // namespace ifx::ops
