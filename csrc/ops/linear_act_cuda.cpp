// CUDA kernel of ifx::linear_act: cuBLAS through aten::linear (bias in its
// epilogue), then the activation in place in one kernel of ours.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"
#include "linear_act.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::linear_act";

at::Tensor linear_act_cuda(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view activation_name) {
  check_linear_act_args(input, weight, bias);
  const EpilogueActivation activation = parse_activation(activation_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor y = at::linear(input, weight, bias);
  if (activation == EpilogueActivation::kNone) return y;
  if (!y.is_non_overlapping_and_dense()) return epilogue_reference(std::move(y), std::nullopt, activation);
  kernels::Epilogue epilogue;
  epilogue.activation = activation;
  // Dense in any order: the activation is elementwise, so memory order is all
  // that matters (channels and inner are unused without a bias).
  const cudaError_t status = kernels::launch_epilogue(kernel_element_type(y.scalar_type()), y.mutable_data_ptr(),
                                                      y.numel(), 1, 1, epilogue, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(status == cudaSuccess, kOp, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
  return y;
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("linear_act", &ifx::ops::linear_act_cuda); }
