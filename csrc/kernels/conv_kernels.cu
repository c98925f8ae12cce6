#include "conv_kernels.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "epilogue_device.cuh"

namespace ifx::kernels {
namespace {

constexpr int kThreads = 256;

// One work item per thread; past the cap the grid-stride loops take over.
int grid_size(int64_t work_items) {
  constexpr int64_t kMaxBlocks = int64_t(1) << 20;
  const int64_t blocks = (work_items + kThreads - 1) / kThreads;
  return static_cast<int>(std::max<int64_t>(1, std::min(blocks, kMaxBlocks)));
}

// Index is int when every offset fits: 64-bit division is several times
// slower on the GPU, and these kernels divide for every element.
template <typename T, typename Index>
__global__ void epilogue_kernel(T* __restrict__ data, Index numel, Index channels, Index inner,
                                TypedEpilogue<T> epilogue) {
  const Index stride = Index(gridDim.x) * blockDim.x;
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < numel; i += stride) {
    data[i] = epilogue.finish(load_as_compute(data[i]), i, (i / inner) % channels);
  }
}

template <typename T>
__global__ void epilogue_pack_kernel(T* __restrict__ data, int packs, int channels, int inner,
                                     TypedEpilogue<T> epilogue) {
  constexpr int kSize = Pack<T>::kSize;
  Pack<T>* out = reinterpret_cast<Pack<T>*>(data);
  const Pack<T>* residual = reinterpret_cast<const Pack<T>*>(epilogue.residual);
  const int stride = gridDim.x * blockDim.x;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += stride) {
    Pack<T> values = out[p];
    Pack<T> residual_values;
    if (residual != nullptr) residual_values = residual[p];
#pragma unroll
    for (int j = 0; j < kSize; ++j) {
      const int i = p * kSize + j;
      const compute_t<T> r = residual != nullptr ? load_as_compute(residual_values.v[j]) : compute_t<T>(0);
      values.v[j] = epilogue.apply(load_as_compute(values.v[j]), r, (i / inner) % channels);
    }
    out[p] = values;
  }
}

// Whole 16-byte packs with 32-bit indices: the common case; anything else
// (odd sizes, offset views, huge tensors) takes the element-wise kernel.
template <typename T> bool pack_kernel_fits(const void* data, int64_t numel, const Epilogue& epilogue) {
  return numel <= INT_MAX && numel % Pack<T>::kSize == 0 && aligned_16(data) &&
         (epilogue.residual == nullptr || aligned_16(epilogue.residual));
}

template <typename T>
cudaError_t launch_epilogue_typed(void* data, int64_t numel, int64_t channels, int64_t inner,
                                  const Epilogue& epilogue, cudaStream_t stream) {
  const TypedEpilogue<T> typed(epilogue);
  T* values = static_cast<T*>(data);
  if (pack_kernel_fits<T>(data, numel, epilogue)) {
    const int packs = static_cast<int>(numel / Pack<T>::kSize);
    epilogue_pack_kernel<T><<<grid_size(packs), kThreads, 0, stream>>>(
        values, packs, static_cast<int>(channels), static_cast<int>(inner), typed);
  } else if (numel <= INT_MAX) {
    epilogue_kernel<T, int><<<grid_size(numel), kThreads, 0, stream>>>(
        values, static_cast<int>(numel), static_cast<int>(channels), static_cast<int>(inner), typed);
  } else {
    epilogue_kernel<T, int64_t><<<grid_size(numel), kThreads, 0, stream>>>(values, numel, channels, inner, typed);
  }
  return cudaGetLastError();
}

// One thread per output element. NHWC puts channels innermost, so a warp
// reads 32 neighbouring channels of one pixel per tap; NCHW puts the output
// column innermost, so a warp reads along a row. kKernel > 0 fixes a square
// kernel size at compile time so the tap loops unroll; 0 reads it from shape.
template <typename T, int kKernel, bool kChannelsLast>
__global__ void depthwise_kernel(const T* __restrict__ input, const T* __restrict__ weight,
                                 T* __restrict__ output, DepthwiseShape s, TypedEpilogue<T> epilogue) {
  const int kernel_h = kKernel > 0 ? kKernel : s.kernel_h;
  const int kernel_w = kKernel > 0 ? kKernel : s.kernel_w;
  const int total = s.batch * s.channels * s.out_h * s.out_w;
  const int stride = gridDim.x * blockDim.x;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    int n, c, oh, ow;
    if constexpr (kChannelsLast) {
      c = i % s.channels;
      int rest = i / s.channels;
      ow = rest % s.out_w;
      rest /= s.out_w;
      oh = rest % s.out_h;
      n = rest / s.out_h;
    } else {
      ow = i % s.out_w;
      int rest = i / s.out_w;
      oh = rest % s.out_h;
      rest /= s.out_h;
      c = rest % s.channels;
      n = rest / s.channels;
    }
    const int ih0 = oh * s.stride_h - s.pad_h;
    const int iw0 = ow * s.stride_w - s.pad_w;
    const T* w = weight + c * kernel_h * kernel_w;
    compute_t<T> sum = 0;
#pragma unroll
    for (int kh = 0; kh < kernel_h; ++kh) {
      const int ih = ih0 + kh * s.dilation_h;
      if (ih < 0 || ih >= s.in_h) continue;
#pragma unroll
      for (int kw = 0; kw < kernel_w; ++kw) {
        const int iw = iw0 + kw * s.dilation_w;
        if (iw < 0 || iw >= s.in_w) continue;
        const int at = kChannelsLast ? ((n * s.in_h + ih) * s.in_w + iw) * s.channels + c
                                     : ((n * s.channels + c) * s.in_h + ih) * s.in_w + iw;
        sum += load_as_compute(input[at]) * load_as_compute(w[kh * kernel_w + kw]);
      }
    }
    output[i] = epilogue.finish(sum, i, c);
  }
}

template <typename T, int kKernel>
void launch_depthwise_layout(const DepthwiseShape& s, const T* input, const T* weight, T* output,
                             const TypedEpilogue<T>& epilogue, cudaStream_t stream) {
  const int blocks = grid_size(int64_t(s.batch) * s.channels * s.out_h * s.out_w);
  if (s.channels_last) {
    depthwise_kernel<T, kKernel, true><<<blocks, kThreads, 0, stream>>>(input, weight, output, s, epilogue);
  } else {
    depthwise_kernel<T, kKernel, false><<<blocks, kThreads, 0, stream>>>(input, weight, output, s, epilogue);
  }
}

template <typename T>
cudaError_t launch_depthwise_typed(const DepthwiseShape& s, const void* input, const void* weight, void* output,
                                   const Epilogue& epilogue, cudaStream_t stream) {
  const T* in = static_cast<const T*>(input);
  const T* w = static_cast<const T*>(weight);
  T* out = static_cast<T*>(output);
  const TypedEpilogue<T> typed(epilogue);
  const int square = s.kernel_h == s.kernel_w ? s.kernel_h : 0;
  switch (square) {
    case 3: launch_depthwise_layout<T, 3>(s, in, w, out, typed, stream); break;
    case 5: launch_depthwise_layout<T, 5>(s, in, w, out, typed, stream); break;
    case 7: launch_depthwise_layout<T, 7>(s, in, w, out, typed, stream); break;
    default: launch_depthwise_layout<T, 0>(s, in, w, out, typed, stream); break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_epilogue(ElementType type, void* data, int64_t numel, int64_t channels, int64_t inner,
                            const Epilogue& epilogue, cudaStream_t stream) {
  if (numel < 0 || channels <= 0 || inner <= 0) return cudaErrorInvalidValue;
  if (numel == 0) return cudaSuccess;
  switch (type) {
    case ElementType::kFloat32: return launch_epilogue_typed<float>(data, numel, channels, inner, epilogue, stream);
    case ElementType::kFloat16: return launch_epilogue_typed<__half>(data, numel, channels, inner, epilogue, stream);
    case ElementType::kBFloat16:
      return launch_epilogue_typed<__nv_bfloat16>(data, numel, channels, inner, epilogue, stream);
    case ElementType::kFloat64: return launch_epilogue_typed<double>(data, numel, channels, inner, epilogue, stream);
  }
  return cudaErrorInvalidValue;
}

bool depthwise_supported(const DepthwiseShape& s) {
  const int sizes[] = {s.batch, s.channels, s.in_h, s.in_w, s.out_h, s.out_w, s.kernel_h, s.kernel_w,
                       s.stride_h, s.stride_w, s.dilation_h, s.dilation_w};
  for (int size : sizes) {
    if (size <= 0) return false;
  }
  if (s.pad_h < 0 || s.pad_w < 0) return false;
  const int64_t input_elements = int64_t(s.batch) * s.channels * s.in_h * s.in_w;
  const int64_t output_elements = int64_t(s.batch) * s.channels * s.out_h * s.out_w;
  // Row and column offsets of taps also stay in int: ih <= in_h + pad_h etc.
  const int64_t tap_reach = int64_t(s.out_h) * s.stride_h + int64_t(s.kernel_h) * s.dilation_h +
                            int64_t(s.out_w) * s.stride_w + int64_t(s.kernel_w) * s.dilation_w;
  return input_elements <= INT_MAX && output_elements <= INT_MAX && tap_reach <= INT_MAX;
}

cudaError_t launch_depthwise_conv2d(ElementType type, const DepthwiseShape& shape, const void* input,
                                    const void* weight, void* output, const Epilogue& epilogue,
                                    cudaStream_t stream) {
  if (!depthwise_supported(shape)) return cudaErrorInvalidValue;
  switch (type) {
    case ElementType::kFloat32: return launch_depthwise_typed<float>(shape, input, weight, output, epilogue, stream);
    case ElementType::kFloat16: return launch_depthwise_typed<__half>(shape, input, weight, output, epilogue, stream);
    case ElementType::kBFloat16:
      return launch_depthwise_typed<__nv_bfloat16>(shape, input, weight, output, epilogue, stream);
    case ElementType::kFloat64:
      return launch_depthwise_typed<double>(shape, input, weight, output, epilogue, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ifx::kernels
