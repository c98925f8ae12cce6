// CUDA kernel of ifx::linear_act: the path from choose_linear_path
// (kernel_choice.h), or with IFX_LINEAR_TUNING=1 the fastest of
// linear_candidates timed on the first call of each shape. Few rows: our
// few-rows matmul with bias and activation built in; more: cuBLAS through
// aten::linear (bias in its epilogue), then the activation in place in one
// kernel of ours. fp32 layers can also run split along the features (forced,
// or chosen by the tuning): CUTLASS's GEMM writes each part's partial sums,
// one kernel adds them and applies the epilogue.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <functional>
#include <limits>
#include <vector>

#include "fused_kernels_cuda.h"
#include "kernel_choice.h"
#include "kernel_dtype.h"
#include "kernels/conv_kernels.h"
#include "kernels/implicit_gemm_conv.h"
#include "linear_act.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::linear_act";

// input's leading dims by weight's out_features, row-major.
at::Tensor empty_linear_output(const at::Tensor& input, const at::Tensor& weight) {
  std::vector<int64_t> out_size = input.sizes().vec();
  out_size.back() = weight.size(0);
  return at::empty(out_size, input.options());
}

at::Tensor run_linear_path(LinearPath path, const LinearCall& call, const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, Activation activation) {
  switch (path) {
    case LinearPath::kAten: return linear_act_reference(input, weight, bias, activation);
    case LinearPath::kFewRowsMatmul: {
      at::Tensor out = empty_linear_output(input, weight);
      run_few_rows_matmul(input.contiguous(), weight, EpilogueOperands(bias, std::nullopt, at::MemoryFormat::Contiguous),
                          activation, out, kOp);
      return out;
    }
    case LinearPath::kImplicitGemmSplitK: {
      const at::Tensor x = input.contiguous();
      const at::Tensor w = weight.contiguous();
      const EpilogueOperands operands(bias, std::nullopt, at::MemoryFormat::Contiguous);
      at::Tensor out = empty_linear_output(input, weight);
      const kernels::ImplicitGemmConvShape shape = linear_as_conv_shape(call);
      const int slices = linear_split_k_slices(call);
      // From the caching allocator: under capture, the graph's own pool.
      at::Tensor partials = at::empty({kernels::implicit_gemm_conv_split_k_partials(shape, slices)},
                                      input.options().dtype(at::kFloat));
      check_launch(kernels::launch_implicit_gemm_conv_split_k(kernels::ElementType::kFloat32, kernels::ConvMath::kExact,
                                                              shape, slices, x.const_data_ptr(), w.const_data_ptr(),
                                                              out.mutable_data_ptr(), partials.mutable_data_ptr<float>(),
                                                              operands.view(activation), at::cuda::getCurrentCUDAStream()),
                   kOp);
      return out;
    }
    case LinearPath::kCublas: return at::linear(input, weight, bias);
    case LinearPath::kCublasThenActivation: {
      at::Tensor y = at::linear(input, weight, bias);
      if (!y.is_non_overlapping_and_dense()) return epilogue_reference(std::move(y), std::nullopt, activation);
      kernels::Epilogue epilogue;
      epilogue.activation = activation;
      // Dense in any order: the activation is elementwise, so memory order is all
      // that matters (channels and inner are unused without a bias).
      check_launch(kernels::launch_epilogue(kernel_element_type(y.scalar_type()), y.mutable_data_ptr(), y.numel(), 1, 1,
                                            epilogue, at::cuda::getCurrentCUDAStream()),
                   kOp);
      return y;
    }
  }
  TORCH_CHECK(false, kOp, ": no kernel for path ", path_name(path));
}

// The rules' path, or the tuned one where IFX_LINEAR_TUNING=1 and no override forces a path
// (timed only outside a capture, as the conv tuning is).
LinearPath plan_linear(const LinearCall& call, const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, Activation activation) {
  const KernelOverride override = current_override();
  if (!call.kernels_apply || override.linear.has_value() || !linear_tuning_enabled()) {
    return choose_linear_path(call, override);
  }
  const LinearPath rules = choose_linear_path(call, override);
  std::function<double(LinearPath)> time_us;
  if (!stream_is_capturing()) {
    time_us = [&](LinearPath path) {
      // A candidate other than the rules' that cannot run here (no kernel image for this GPU, no
      // memory for split-K's partial sums) loses the timing instead of failing the call: the
      // launch is refused before any kernel runs.
      try {
        return gpu_time_us([&] { run_linear_path(path, call, input, weight, bias, activation); });
      } catch (const c10::Error&) {
        if (path == rules) throw;
        return std::numeric_limits<double>::infinity();
      }
    };
  }
  return tuned_linear_path(call, cuda_math_flags(input), time_us);
}

at::Tensor linear_act_cuda(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view activation_name) {
  check_linear_act_args(input, weight, bias);
  const Activation activation = parse_activation(activation_name, kOp);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const LinearCall call = describe_linear_act(input, weight, bias, activation);
  const LinearPath path = plan_linear(call, input, weight, bias, activation);
  record_path(path);
  return run_linear_path(path, call, input, weight, bias, activation);
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("linear_act", &ifx::ops::linear_act_cuda); }
