#include "split_k_sum_kernels.h"

#include "epilogue_device.cuh"
#include "launch.cuh"

namespace ifx::kernels {
namespace {

constexpr int kThreads = 256;

// One element per thread: the partials are a few MB at most (split-K is for
// problems with few output tiles), each read once, coalesced. `output` is not
// __restrict__: the residual may be the output itself.
__global__ void split_k_sum_kernel(const float* __restrict__ partials, int slices, int64_t elements, int channels,
                                   float* output, TypedEpilogue<float> epilogue) {
  wait_for_previous_kernel();
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= elements) return;
  float sum = partials[e];
  for (int slice = 1; slice < slices; ++slice) sum += partials[slice * elements + e];
  output[e] = epilogue.finish(sum, e, e % channels);
}

}  // namespace

cudaError_t launch_split_k_sum(const float* partials, int slices, int64_t elements, int channels, float* output,
                               const Epilogue& epilogue, cudaStream_t stream) {
  if (partials == nullptr || output == nullptr || slices < 1 || channels < 1 || elements < 0) {
    return cudaErrorInvalidValue;
  }
  if (elements == 0) return cudaSuccess;
  const int64_t blocks = (elements + kThreads - 1) / kThreads;
  if (blocks > 2147483647) return cudaErrorInvalidValue;
  return launch(split_k_sum_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, stream, partials, slices, elements,
                channels, output, TypedEpilogue<float>(epilogue));
}

}  // namespace ifx::kernels
