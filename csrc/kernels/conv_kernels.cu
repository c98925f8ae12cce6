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

template <typename T>
__global__ void epilogue_pack_kernel(T* __restrict__ data, int packs, int channels, int inner,
                                     TypedEpilogue<T> epilogue) {
  wait_for_previous_kernel();
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
    return launch(epilogue_pack_kernel<T>, grid_size(packs), kThreads, 0, stream, values, packs,
                  static_cast<int>(channels), static_cast<int>(inner), typed);
  }
  if (numel <= INT_MAX) {
    return launch(epilogue_kernel<T, int>, grid_size(numel), kThreads, 0, stream, values, static_cast<int>(numel),
                  static_cast<int>(channels), static_cast<int>(inner), typed);
  }
  return launch(epilogue_kernel<T, int64_t>, grid_size(numel), kThreads, 0, stream, values, numel, channels, inner,
                typed);
}

}  // namespace

cudaError_t launch_epilogue(ElementType type, void* data, int64_t numel, int64_t channels, int64_t inner,
                            const Epilogue& epilogue, cudaStream_t stream) {
  if (numel < 0 || channels <= 0 || inner <= 0) return cudaErrorInvalidValue;
  if (numel == 0) return cudaSuccess;
  return dispatch_element_type(type, [&](auto tag) {
    return launch_epilogue_typed<typename decltype(tag)::type>(data, numel, channels, inner, epilogue, stream);
  });
}

}  // namespace ifx::kernels
