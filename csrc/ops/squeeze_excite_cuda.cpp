// CUDA kernel of ifx::squeeze_excite: the block in two or three kernels of
// ours (csrc/kernels/squeeze_excite_kernels.h) where they cover the call, else
// the ATen composition.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "fused_kernels_cuda.h"
#include "kernel_choice.h"
#include "kernel_dtype.h"
#include "kernels/squeeze_excite_kernels.h"
#include "squeeze_excite.h"

namespace ifx::ops {
namespace {

constexpr const char* kOp = "ifx::squeeze_excite";

bool on(const at::Tensor& t, const at::Tensor& x) { return t.device() == x.device() && t.scalar_type() == x.scalar_type(); }

SqueezeExciteCall describe(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                           const at::Tensor& w2, const std::optional<at::Tensor>& b2, at::MemoryFormat format) {
  SqueezeExciteCall call;
  call.kernels_apply = x.numel() > 0 && on(w1, x) && on(w2, x) && (!b1 || on(*b1, x)) && (!b2 || on(*b2, x)) &&
                       x.size(0) <= INT32_MAX && x.size(1) <= INT32_MAX && x.size(2) * x.size(3) <= INT32_MAX &&
                       w1.size(0) <= INT32_MAX;
  if (!call.kernels_apply) return call;
  call.dtype = kernel_element_type(x.scalar_type());
  call.shape = {static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), static_cast<int>(w1.size(0)),
                static_cast<int>(x.size(2) * x.size(3)), format == at::MemoryFormat::ChannelsLast};
  return call;
}

at::Tensor squeeze_excite_cuda(const at::Tensor& x, const at::Tensor& w1, const std::optional<at::Tensor>& b1,
                               c10::string_view act1_name, const at::Tensor& w2, const std::optional<at::Tensor>& b2,
                               c10::string_view gate_name) {
  check_squeeze_excite_args(x, w1, b1, w2, b2);
  const Activation act1 = parse_activation(act1_name, kOp);
  const Activation gate = parse_activation(gate_name, kOp);
  const c10::cuda::CUDAGuard device_guard(x.device());
  // The output keeps x's layout, as x * scale does in eager.
  const at::MemoryFormat format = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast
                                      ? at::MemoryFormat::ChannelsLast
                                      : at::MemoryFormat::Contiguous;
  const SqueezeExciteCall call = describe(x, w1, b1, w2, b2, format);
  const SqueezeExcitePath path = choose_squeeze_excite_path(call, current_override());
  record_path(path);
  if (path == SqueezeExcitePath::kAten) return squeeze_excite_reference(x, w1, b1, act1, w2, b2, gate);
  const at::Tensor input = x.contiguous(format);
  const at::Tensor fc1 = w1.contiguous(), fc2 = w2.contiguous();
  const std::optional<at::Tensor> bias1 = b1 ? std::optional<at::Tensor>(b1->contiguous()) : std::nullopt;
  const std::optional<at::Tensor> bias2 = b2 ? std::optional<at::Tensor>(b2->contiguous()) : std::nullopt;
  at::Tensor out = at::empty(x.sizes(), x.options(), format);
  const kernels::SqueezeExciteGates gates = squeeze_excite_gates(path);
  const at::Tensor workspace =
      at::empty({static_cast<int64_t>(kernels::squeeze_excite_workspace_bytes(call.shape, gates))},
                x.options().dtype(at::kByte));
  check_launch(kernels::launch_squeeze_excite(call.dtype, call.shape, gates, input.const_data_ptr(), fc1.const_data_ptr(),
                                              bias1 ? bias1->const_data_ptr() : nullptr, act1, fc2.const_data_ptr(),
                                              bias2 ? bias2->const_data_ptr() : nullptr, gate, out.mutable_data_ptr(),
                                              workspace.mutable_data_ptr(), at::cuda::getCurrentCUDAStream()),
               kOp);
  return out;
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("squeeze_excite", &ifx::ops::squeeze_excite_cuda); }
