// Meta (fake) kernels of ifx::hardswish / ifx::hardsigmoid: shape, dtype and
// strides only, so FakeTensor, torch.compile and torch.export can trace them.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "activation.h"

namespace ifx::ops {
namespace {

at::Tensor hardswish_meta(const at::Tensor& x) {
  check_activation_input(x, "ifx::hardswish");
  return allocate_activation_output(x);
}

at::Tensor hardsigmoid_meta(const at::Tensor& x) {
  check_activation_input(x, "ifx::hardsigmoid");
  return allocate_activation_output(x);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, Meta, m) {
  m.impl("hardswish", &ifx::ops::hardswish_meta);
  m.impl("hardsigmoid", &ifx::ops::hardsigmoid_meta);
}
