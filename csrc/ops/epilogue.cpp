#include "epilogue.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>

#include <array>
#include <string>

#include "kernel_dtype.h"

namespace ifx::ops {
namespace {

using UnaryOp = c10::TypedOperatorHandle<at::Tensor(const at::Tensor&)>;
using InPlaceOp = c10::TypedOperatorHandle<at::Tensor&(at::Tensor&)>;

// Each activation's ATen op and its in-place form, looked up once.
struct AtenActivation {
  std::optional<UnaryOp> op;
  std::optional<InPlaceOp> in_place;
};

const AtenActivation& aten_activation(Activation activation) {
  static const auto table = [] {
    std::array<AtenActivation, kernels::kActivationCount> ops;
    for (const auto& info : kernels::kActivations) {
      const std::string name = info.aten_op;
      if (name.empty()) continue;
      auto& dispatcher = c10::Dispatcher::singleton();
      ops[static_cast<int>(info.activation)] = {
          dispatcher.findSchemaOrThrow(name.c_str(), "").typed<at::Tensor(const at::Tensor&)>(),
          dispatcher.findSchemaOrThrow((name + "_").c_str(), "").typed<at::Tensor&(at::Tensor&)>()};
    }
    return ops;
  }();
  return table[static_cast<int>(activation)];
}

}  // namespace

Activation parse_activation(c10::string_view name, const char* op_name) {
  for (const auto& info : kernels::kActivations) {
    if (name == info.name) return info.activation;
  }
  TORCH_CHECK(false, op_name, ": unknown activation '", std::string(name), "'; expected one of ", activation_names());
}

const std::string& activation_names() {
  static const std::string names = [] {
    std::string joined;
    for (const auto& info : kernels::kActivations) joined += std::string(joined.empty() ? "" : ", ") + info.name;
    return joined;
  }();
  return names;
}

at::Tensor apply_activation(at::Tensor y, Activation activation, bool in_place) {
  const AtenActivation& aten = aten_activation(activation);
  if (!aten.op.has_value()) return y;
  if (in_place) {
    aten.in_place->call(y);
    return y;
  }
  return aten.op->call(y);
}

at::Tensor epilogue_reference(at::Tensor y, const std::optional<at::Tensor>& residual, Activation activation) {
  // Out of place while autograd records (in-place ops would overwrite values
  // it saved); in place otherwise, since `y` is ours.
  const bool in_place = !(c10::GradMode::is_enabled() && (y.requires_grad() || (residual && residual->requires_grad())));
  if (residual.has_value()) {
    // In place only where the sum keeps y's size and dtype (no broadcast of y,
    // no promotion). A fresh output of a large map costs page faults on the
    // CPU: docs/benchmarks.md, "CPU".
    const bool keeps_y = at::infer_size(y.sizes(), residual->sizes()) == y.sizes() &&
                         at::result_type(y, *residual) == y.scalar_type();
    y = in_place && keeps_y ? y.add_(*residual) : at::add(y, *residual);
  }
  return apply_activation(std::move(y), activation, in_place);
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
  TORCH_CHECK(is_fused_dtype(t.scalar_type()), op_name, ": expected ", argument, " to be a ", fused_dtype_names(),
              " tensor, got ", t.scalar_type());
}

}  // namespace ifx::ops
