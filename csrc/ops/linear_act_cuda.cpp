// CUDA kernel of ifx::linear_act. Up to kFewRowsMax rows (small batches):
// one few-rows matmul kernel of ours with bias and activation built in.
// More rows: cuBLAS through aten::linear (bias in its epilogue), then the
// activation in place in one kernel of ours.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>
#include <vector>

#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"
#include "kernels/matmul_kernels.h"
#include "linear_act.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::linear_act";

void check_launch(cudaError_t status) {
  TORCH_CHECK(status == cudaSuccess, kOp, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

// Returns an undefined tensor when the call is not for the few-rows kernel.
at::Tensor try_few_rows_matmul(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               EpilogueActivation activation) {
  const bool same_device = weight.device() == input.device() && (!bias || bias->device() == input.device());
  const int64_t features = input.size(-1);
  if (!same_device || features == 0 || input.numel() == 0) return {};
  const int64_t rows = input.numel() / features;
  if (rows > kernels::kFewRowsMax || weight.size(0) > std::numeric_limits<int>::max()) return {};
  const kernels::FewRowsMatmulShape shape{static_cast<int>(rows), static_cast<int>(features),
                                          static_cast<int>(weight.size(0))};
  if (!kernels::few_rows_matmul_supported(shape) ||
      !kernels::few_rows_matmul_is_faster(shape, static_cast<int>(input.element_size()))) {
    return {};
  }
  const at::Tensor x = input.contiguous();
  const at::Tensor w = weight.contiguous();
  const std::optional<at::Tensor> b = bias.has_value() ? std::optional<at::Tensor>(bias->contiguous()) : std::nullopt;
  std::vector<int64_t> out_size = input.sizes().vec();
  out_size.back() = weight.size(0);
  at::Tensor out = at::empty(out_size, input.options());
  kernels::Epilogue epilogue;
  epilogue.bias = b.has_value() ? b->const_data_ptr() : nullptr;
  epilogue.activation = activation;
  check_launch(kernels::launch_few_rows_matmul(kernel_element_type(input.scalar_type()), shape, x.const_data_ptr(),
                                               w.const_data_ptr(), out.mutable_data_ptr(), epilogue,
                                               at::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor linear_act_cuda(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view activation_name) {
  check_linear_act_args(input, weight, bias);
  const EpilogueActivation activation = parse_activation(activation_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor few_rows = try_few_rows_matmul(input, weight, bias, activation);
  if (few_rows.defined()) return few_rows;
  at::Tensor y = at::linear(input, weight, bias);
  if (activation == EpilogueActivation::kNone) return y;
  if (!y.is_non_overlapping_and_dense()) return epilogue_reference(std::move(y), std::nullopt, activation);
  kernels::Epilogue epilogue;
  epilogue.activation = activation;
  // Dense in any order: the activation is elementwise, so memory order is all
  // that matters (channels and inner are unused without a bias).
  const cudaError_t status = kernels::launch_epilogue(kernel_element_type(y.scalar_type()), y.mutable_data_ptr(),
                                                      y.numel(), 1, 1, epilogue, at::cuda::getCurrentCUDAStream());
  check_launch(status);
  return y;
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("linear_act", &ifx::ops::linear_act_cuda); }
