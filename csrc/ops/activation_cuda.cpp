// CUDA kernels of ifx::hardswish / ifx::hardsigmoid: layout handling here, the
// arithmetic in csrc/kernels/activation_kernels.cu.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "activation.h"
#include "kernel_dtype.h"
#include "kernels/activation_kernels.h"

namespace ifx::ops {
namespace {

at::Tensor activation_cuda(const at::Tensor& x, kernels::Activation activation, const char* op_name) {
  check_activation_input(x, op_name);
  const c10::cuda::CUDAGuard device_guard(x.device());
  // A dense input and its empty_like output share one element order in
  // memory, so the kernel can walk both as flat arrays; other views are
  // packed first.
  const at::Tensor input = x.is_non_overlapping_and_dense() ? x : x.contiguous();
  at::Tensor out = allocate_activation_output(x);
  const cudaError_t status =
      kernels::launch_activation(activation, kernel_element_type(x.scalar_type()), input.const_data_ptr(),
                                 out.mutable_data_ptr(), x.numel(), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(status == cudaSuccess, op_name, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
  return out;
}

at::Tensor hardswish_cuda(const at::Tensor& x) {
  return activation_cuda(x, kernels::Activation::kHardswish, "ifx::hardswish");
}

at::Tensor hardsigmoid_cuda(const at::Tensor& x) {
  return activation_cuda(x, kernels::Activation::kHardsigmoid, "ifx::hardsigmoid");
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) {
  m.impl("hardswish", &ifx::ops::hardswish_cuda);
  m.impl("hardsigmoid", &ifx::ops::hardsigmoid_cuda);
}
