#include "fused_kernels_cuda.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <limits>

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

bool stream_is_capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(at::cuda::getCurrentCUDAStream(), &status));
  return status != cudaStreamCaptureStatusNone;
}

double gpu_time_us(const std::function<void()>& run) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  cudaEvent_t start = nullptr, stop = nullptr;
  C10_CUDA_CHECK(cudaEventCreate(&start));
  C10_CUDA_CHECK(cudaEventCreate(&stop));
  double best = std::numeric_limits<double>::infinity();
  try {
    for (int i = 0; i < 2; ++i) run();
    for (int batch = 0; batch < 3; ++batch) {
      // The GPU spins (about 0.5 ms on an H200) while the host queues the timed runs behind it,
      // so the events time the kernels back to back, as graph replay runs them, and not the
      // host's launch cost, which at batch 1 exceeds the GPU time and favoured one-kernel paths
      // (docs/fusion.md, Kernels).
      at::cuda::sleep(1000000);
      C10_CUDA_CHECK(cudaGetLastError());
      C10_CUDA_CHECK(cudaEventRecord(start, stream));
      for (int i = 0; i < 5; ++i) run();
      C10_CUDA_CHECK(cudaEventRecord(stop, stream));
      C10_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      C10_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      best = std::min(best, 1e3 * ms / 5);
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
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
