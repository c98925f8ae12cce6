// Schemas of the fused activation ops. Kernels: activation_cpu.cpp,
// activation_cuda.cpp, activation_meta.cpp.
#include "activation.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernel_dtype.h"

namespace ifx::ops {

void check_activation_input(const at::Tensor& x, const char* op_name) {
  TORCH_CHECK(x.layout() == at::kStrided, op_name, ": expected a strided (dense) tensor, got layout ",
              x.layout());
  TORCH_CHECK(is_fused_dtype(x.scalar_type()), op_name, ": expected a ", fused_dtype_names(), " tensor, got ",
              x.scalar_type());
}

at::Tensor allocate_activation_output(const at::Tensor& x) {
  if (x.is_non_overlapping_and_dense()) {
    return at::empty_like(x);
  }
  return at::empty(x.sizes(), x.options(), at::MemoryFormat::Contiguous);
}

}  // namespace ifx::ops

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  m.def("hardswish(Tensor x) -> Tensor");    // x * clamp(x + 3, 0, 6) / 6
  m.def("hardsigmoid(Tensor x) -> Tensor");  // clamp(x + 3, 0, 6) / 6
}
