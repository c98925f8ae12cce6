// CPU kernels of ifx::hardswish / ifx::hardsigmoid: ATen's vectorised CPU
// kernels compute the same formula, written into our output layout.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "activation.h"

namespace ifx::ops {
namespace {

at::Tensor hardswish_cpu(const at::Tensor& x) {
  check_activation_input(x, "ifx::hardswish");
  at::Tensor out = allocate_activation_output(x);
  return at::hardswish_out(out, x);
}

at::Tensor hardsigmoid_cpu(const at::Tensor& x) {
  check_activation_input(x, "ifx::hardsigmoid");
  at::Tensor out = allocate_activation_output(x);
  return at::hardsigmoid_out(out, x);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CPU, m) {
  m.impl("hardswish", &ifx::ops::hardswish_cpu);
  m.impl("hardsigmoid", &ifx::ops::hardsigmoid_cpu);
}
