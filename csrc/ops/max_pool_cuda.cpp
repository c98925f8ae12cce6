// CUDA kernel of ifx::max_pool2d: our NHWC kernel
// (csrc/kernels/max_pool_kernels.h) for channels_last inputs whose arguments
// it covers, else aten::max_pool2d (which also raises ATen's errors for bad
// arguments).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/native/Pool.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "fused_kernels_cuda.h"
#include "kernel_choice.h"
#include "kernel_dtype.h"
#include "kernels/max_pool_kernels.h"
#include "max_pool.h"

namespace ifx::ops {
namespace {

// ATen's spelling of a pair argument: one value for both sides, or two.
std::optional<std::pair<int64_t, int64_t>> pair_of(at::IntArrayRef values) {
  if (values.size() == 1) return std::make_pair(values[0], values[0]);
  if (values.size() == 2) return std::make_pair(values[0], values[1]);
  return std::nullopt;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT32_MAX; }

MaxPoolCall describe(const at::Tensor& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  MaxPoolCall call;
  const auto kernel = pair_of(kernel_size);
  const auto step = stride.empty() ? kernel : pair_of(stride);  // no stride: the window's size
  const auto pad = pair_of(padding);
  const auto dilate = pair_of(dilation);
  call.kernels_apply = x.dim() == 4 && x.numel() > 0 && is_fused_dtype(x.scalar_type()) &&
                       x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                       x.suggest_memory_format() == at::MemoryFormat::ChannelsLast && kernel && step && pad && dilate &&
                       kernel->first > 0 && kernel->second > 0 && step->first > 0 && step->second > 0 &&
                       dilate->first > 0 && dilate->second > 0 && pad->first >= 0 && pad->second >= 0;
  if (!call.kernels_apply) return call;
  const int64_t out_h =
      at::native::pooling_output_shape<int64_t>(x.size(2), kernel->first, pad->first, step->first, dilate->first,
                                                ceil_mode);
  const int64_t out_w = at::native::pooling_output_shape<int64_t>(x.size(3), kernel->second, pad->second,
                                                                  step->second, dilate->second, ceil_mode);
  const int64_t values[] = {x.size(0),     x.size(1),       x.size(2),    x.size(3),    out_h,
                            out_w,         kernel->first,   kernel->second, step->first, step->second,
                            pad->first,    pad->second,     dilate->first, dilate->second};
  for (int64_t v : values) call.kernels_apply = call.kernels_apply && fits_int(v);
  if (!call.kernels_apply) return call;
  call.dtype = kernel_element_type(x.scalar_type());
  call.shape = {static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                static_cast<int>(x.size(3)), static_cast<int>(out_h),     static_cast<int>(out_w),
                static_cast<int>(kernel->first), static_cast<int>(kernel->second), static_cast<int>(step->first),
                static_cast<int>(step->second),  static_cast<int>(pad->first),     static_cast<int>(pad->second),
                static_cast<int>(dilate->first), static_cast<int>(dilate->second)};
  return call;
}

at::Tensor max_pool2d_cuda(const at::Tensor& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  const MaxPoolCall call = describe(x, kernel_size, stride, padding, dilation, ceil_mode);
  const MaxPoolPath path = choose_max_pool_path(call);
  record_path(path);
  if (path == MaxPoolPath::kAten) return max_pool2d_reference(x, kernel_size, stride, padding, dilation, ceil_mode);
  const c10::cuda::CUDAGuard device_guard(x.device());
  at::Tensor out = at::empty({x.size(0), x.size(1), call.shape.out_h, call.shape.out_w}, x.options(),
                             at::MemoryFormat::ChannelsLast);
  check_launch(kernels::launch_max_pool_nhwc(call.dtype, call.shape, x.const_data_ptr(), out.mutable_data_ptr(),
                                             at::cuda::getCurrentCUDAStream()),
               "ifx::max_pool2d");
  return out;
}

}  // namespace
}  // namespace ifx::ops

TORCH_LIBRARY_IMPL(ifx, CUDA, m) { m.impl("max_pool2d", &ifx::ops::max_pool2d_cuda); }
