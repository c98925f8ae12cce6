#include "conv_kernels.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "element_dispatch.cuh"
#include "epilogue_device.cuh"
#include "launch.cuh"

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
  wait_for_previous_kernel();
  const Index stride = Index(gridDim.x) * blockDim.x;
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < numel; i += stride) {
    data[i] = epilogue.finish(load_as_compute(data[i]), i, (i / inner) % channels);
  }
}

// Where the channels of a 16-byte pack come from, fixed per launch so that
// the loop does one channel computation per pack (or none) instead of a
// division and a modulo per element.
enum class PackChannels {
  kConsecutive,  // inner == 1 and channels % pack size == 0 (NHWC, linear rows): channels c .. c+size-1
  kShared,       // inner % pack size == 0 (NCHW with H*W a multiple of the pack): one channel for the pack
  kEach,         // anything else: each element's own channel
};

// The pack loop for one activation (a functor, from with_activation: the
// switch on it is taken once per thread, not per element). Additions in the
// order of TypedEpilogue::apply: (value + bias) + residual.
template <PackChannels kChannels, typename T, typename Activate>
__device__ __forceinline__ void epilogue_packs(T* __restrict__ data, int packs, int channels, int inner,
                                               const TypedEpilogue<T>& epilogue, Activate activate_one) {
  constexpr int kSize = Pack<T>::kSize;
  using C = compute_t<T>;
  Pack<T>* out = reinterpret_cast<Pack<T>*>(data);
  const Pack<T>* residual = reinterpret_cast<const Pack<T>*>(epilogue.residual);
  const T* bias = epilogue.bias;
  const int stride = gridDim.x * blockDim.x;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += stride) {
    Pack<T> values = out[p];
    C sums[kSize];
#pragma unroll
    for (int j = 0; j < kSize; ++j) sums[j] = load_as_compute(values.v[j]);
    if (bias != nullptr) {
      if constexpr (kChannels == PackChannels::kConsecutive) {
        const Pack<T> b = reinterpret_cast<const Pack<T>*>(bias)[(p % (channels / kSize))];
#pragma unroll
        for (int j = 0; j < kSize; ++j) sums[j] += load_as_compute(b.v[j]);
      } else if constexpr (kChannels == PackChannels::kShared) {
        const C b = load_as_compute(bias[(p * kSize / inner) % channels]);
#pragma unroll
        for (int j = 0; j < kSize; ++j) sums[j] += b;
      } else {
#pragma unroll
        for (int j = 0; j < kSize; ++j) sums[j] += load_as_compute(bias[((p * kSize + j) / inner) % channels]);
      }
    }
    if (residual != nullptr) {
      const Pack<T> r = residual[p];
#pragma unroll
      for (int j = 0; j < kSize; ++j) sums[j] += load_as_compute(r.v[j]);
    }
#pragma unroll
    for (int j = 0; j < kSize; ++j) values.v[j] = store_from_compute<T>(activate_one(sums[j]));
    out[p] = values;
  }
}

template <typename T, PackChannels kChannels>
__global__ void epilogue_pack_kernel(T* __restrict__ data, int packs, int channels, int inner,
                                     TypedEpilogue<T> epilogue) {
  wait_for_previous_kernel();
  with_activation<compute_t<T>>(epilogue.activation, [&](auto activate_one) {
    epilogue_packs<kChannels>(data, packs, channels, inner, epilogue, activate_one);
  });
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
    constexpr int kSize = Pack<T>::kSize;
    const int packs = static_cast<int>(numel / kSize);
    const auto run = [&](auto kernel) {
      return launch(kernel, grid_size(packs), kThreads, 0, stream, values, packs, static_cast<int>(channels),
                    static_cast<int>(inner), typed);
    };
    // Vector bias loads need the bias on the 16-byte grid.
    if (inner == 1 && channels % kSize == 0 && (epilogue.bias == nullptr || aligned_16(epilogue.bias))) {
      return run(epilogue_pack_kernel<T, PackChannels::kConsecutive>);
    }
    if (inner % kSize == 0) return run(epilogue_pack_kernel<T, PackChannels::kShared>);
    return run(epilogue_pack_kernel<T, PackChannels::kEach>);
  }
  if (numel <= INT_MAX) {
    return launch(epilogue_kernel<T, int>, grid_size(numel), kThreads, 0, stream, values, static_cast<int>(numel),
                  static_cast<int>(channels), static_cast<int>(inner), typed);
  }
  return launch(epilogue_kernel<T, int64_t>, grid_size(numel), kThreads, 0, stream, values, numel, channels, inner,
                typed);
}

// One thread per (image, pixel): its `padded` output elements, the input's
// channels then zeros.
template <typename Bits>
__global__ void pad_channels_kernel(const Bits* __restrict__ in, Bits* __restrict__ out, int64_t images,
                                    int64_t channels, int64_t pixels, int64_t padded, bool channels_first) {
  wait_for_previous_kernel();
  const int64_t total = images * pixels;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t image = i / pixels, pixel = i - image * pixels;
    Bits* to = out + i * padded;
    for (int64_t c = 0; c < padded; ++c) {
      Bits value = 0;
      if (c < channels) value = channels_first ? in[(image * channels + c) * pixels + pixel] : in[i * channels + c];
      to[c] = value;
    }
  }
}

template <typename Bits>
cudaError_t launch_pad_typed(const void* in, void* out, int64_t images, int64_t channels, int64_t pixels,
                             int64_t padded, bool channels_first, cudaStream_t stream) {
  return launch(pad_channels_kernel<Bits>, grid_size(images * pixels), kThreads, 0, stream,
                static_cast<const Bits*>(in), static_cast<Bits*>(out), images, channels, pixels, padded,
                channels_first);
}

}  // namespace

cudaError_t launch_pad_channels(int element_bytes, const void* in, void* out, int64_t images, int64_t channels,
                                int64_t pixels, int64_t padded, bool channels_first, cudaStream_t stream) {
  if (in == nullptr || out == nullptr || images < 1 || pixels < 1 || channels < 1 || padded < channels) {
    return cudaErrorInvalidValue;
  }
  switch (element_bytes) {
    case 2: return launch_pad_typed<uint16_t>(in, out, images, channels, pixels, padded, channels_first, stream);
    case 4: return launch_pad_typed<uint32_t>(in, out, images, channels, pixels, padded, channels_first, stream);
    case 8: return launch_pad_typed<uint64_t>(in, out, images, channels, pixels, padded, channels_first, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_epilogue(ElementType type, void* data, int64_t numel, int64_t channels, int64_t inner,
                            const Epilogue& epilogue, cudaStream_t stream) {
  if (numel < 0 || channels <= 0 || inner <= 0) return cudaErrorInvalidValue;
  if (numel == 0) return cudaSuccess;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_epilogue_typed<typename decltype(tag)::type>(data, numel, channels, inner, epilogue, stream);
  });
}

}  // namespace ifx::kernels
