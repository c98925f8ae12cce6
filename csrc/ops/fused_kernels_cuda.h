// Launch helpers shared by the CUDA kernels of ifx::conv2d_act and
// ifx::linear_act: tensors in, raw pointers to csrc/kernels out.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>
#include <cuda_runtime.h>

#include <functional>
#include <optional>

#include "conv2d_act.h"
#include "kernel_choice.h"
#include "kernels/epilogue_args.h"

namespace ifx::ops {

// Throws a readable error naming `op` unless `status` is cudaSuccess.
void check_launch(cudaError_t status, const char* op);

// Whether the current CUDA stream is capturing a graph: then nothing may be timed.
bool stream_is_capturing();

// GPU time of one `run()`, in microseconds, as the first-call tuning takes it: the best of three
// batches of five runs after two warm-up runs (first launches and lazy module loads stay out of
// it), queued behind a spinning kernel.
double gpu_time_us(const std::function<void()>& run);

// torch's math flags (current_math_flags) and what the kernel choice needs of
// `input`'s CUDA device: its SM count and whether it runs the Hopper GEMM.
MathFlags cuda_math_flags(const at::Tensor& input);

// Bias and residual made dense in the output's layout (kept alive through the
// launch), and the kernels' view of them.
struct EpilogueOperands {
  std::optional<at::Tensor> bias, residual;

  EpilogueOperands(const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& residual,
                   at::MemoryFormat format);
  kernels::Epilogue view(kernels::Activation activation) const;
};

// The path ifx::conv2d_act's CUDA kernel takes for these (checked) arguments,
// tuned on the first call of their key as the op itself tunes
// (conv2d_act_cuda.cpp). With `run_block`, the call feeds the squeeze-and-
// excitation block of ifx::conv2d_act_squeeze_excite (`squeeze_hidden` hidden
// channels): the block's own tuning key, and `run_block(path)` (the conv
// through `path` and the block's kernels after it) is what each candidate's
// timing runs.
ConvPath conv2d_act_cuda_path(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                              const Conv2dParams& params, const std::optional<at::Tensor>& residual,
                              kernels::Activation activation, int64_t squeeze_hidden = 0,
                              const std::function<void(ConvPath)>& run_block = {});
// ifx::conv2d_act's output through `path`, a path that conv2d_act_cuda_path
// gave for these arguments (recorded as the op's last path).
at::Tensor conv2d_act_cuda_through(const at::Tensor& input, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias, const Conv2dParams& params,
                                   const std::optional<at::Tensor>& residual, kernels::Activation activation,
                                   ConvPath path);

// out[m, n] = epilogue(sum_k input[m, k] * weight[n, k]) for the few rows of
// `input` (its elements in row-major [rows, in_features] order, as a dense
// [N, C, 1, 1] tensor in either format or a contiguous [..., K] one has them):
// the one entry point of the few-rows matmul kernel. `out` is dense, row-major.
void run_few_rows_matmul(const at::Tensor& input, const at::Tensor& weight, const EpilogueOperands& operands,
                         kernels::Activation activation, at::Tensor& out, const char* op);

}  // namespace ifx::ops
