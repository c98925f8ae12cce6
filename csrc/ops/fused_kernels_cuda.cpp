#include "fused_kernels_cuda.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "conv2d_act.h"
#include "kernel_dtype.h"
#include "kernels/hopper_gemm.h"
#include "kernels/matmul_kernels.h"

namespace ifx::ops {

MathFlags cuda_math_flags(const at::Tensor& input) {
  MathFlags flags = current_math_flags();
  const c10::cuda::CUDAGuard device_guard(input.device());
  flags.multiprocessors = at::cuda::getDeviceProperties(input.device().index())->multiProcessorCount;
  flags.hopper_gemm = kernels::hopper_gemm_available();
  flags.cudnn_graph = cudnn_graph_enabled();
  return flags;
}

void check_launch(cudaError_t status, const char* op) {
  TORCH_CHECK(status == cudaSuccess, op, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

EpilogueOperands::EpilogueOperands(const std::optional<at::Tensor>& b, const std::optional<at::Tensor>& r,
                                   at::MemoryFormat format)
    : bias(b.has_value() ? std::optional<at::Tensor>(b->contiguous()) : std::nullopt),
      residual(r.has_value() ? std::optional<at::Tensor>(r->contiguous(format)) : std::nullopt) {}

kernels::Epilogue EpilogueOperands::view(kernels::Activation activation) const {
  kernels::Epilogue epilogue;
  epilogue.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;
  epilogue.residual = residual.has_value() ? residual->const_data_ptr() : nullptr;
  epilogue.activation = activation;
  return epilogue;
}

void run_few_rows_matmul(const at::Tensor& input, const at::Tensor& weight, const EpilogueOperands& operands,
                         kernels::Activation activation, at::Tensor& out, const char* op) {
  const int64_t out_features = weight.size(0);
  const int64_t in_features = weight.numel() / out_features;
  const kernels::FewRowsMatmulShape shape{static_cast<int>(input.numel() / in_features), static_cast<int>(in_features),
                                          static_cast<int>(out_features)};
  const at::Tensor w = weight.contiguous();
  check_launch(kernels::launch_few_rows_matmul(kernel_element_type(input.scalar_type()), shape, input.const_data_ptr(),
                                               w.const_data_ptr(), out.mutable_data_ptr(), operands.view(activation),
                                               at::cuda::getCurrentCUDAStream()),
               op);
}

}  // namespace ifx::ops
