// launch_hopper_gemm: validates the call and hands it to the per-type entry
// point (hopper_gemm_<type>.cu), which holds the CUTLASS kernels.
#include "hopper_gemm.h"

#include <atomic>
#include <cstdint>

#include "hopper_gemm_entry.h"

namespace ifx::kernels {
namespace {

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Per device: 0 not yet asked, 1 no, 2 yes.
constexpr int kMaxDevices = 64;
std::atomic<int> availability[kMaxDevices];

bool ask_device(int device) {
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  // sm_90a code runs on compute capability 9.0 alone.
  if (major != 9 || minor != 0) return false;
  bool present = false;
  if (hopper_gemm_detail::query_sm90a_image(&present) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return present;
}

int current_multiprocessors() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return 0;
  return count;
}

}  // namespace

bool hopper_gemm_available() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  if (device < 0 || device >= kMaxDevices) return ask_device(device);
  int known = availability[device].load(std::memory_order_relaxed);
  if (known == 0) {
    known = ask_device(device) ? 2 : 1;
    availability[device].store(known, std::memory_order_relaxed);
  }
  return known == 2;
}

cudaError_t launch_hopper_gemm(ElementType type, ConvMath math, HopperGemmTile tile, const HopperGemmShape& shape,
                               const void* a, const void* b, void* out, const Epilogue& epilogue, cudaStream_t stream) {
  if (!hopper_gemm_supported(type, math, shape)) return cudaErrorInvalidValue;
  if (a == nullptr || b == nullptr || out == nullptr) return cudaErrorInvalidValue;
  // The tensor-memory-access copies need 16-byte aligned base addresses.
  const void* const pointers[] = {a, b, out, epilogue.bias, epilogue.residual};
  for (const void* p : pointers) {
    if (p != nullptr && !aligned(p)) return cudaErrorInvalidValue;
  }
  if (!hopper_gemm_available()) return cudaErrorNoKernelImageForDevice;
  const int multiprocessors = current_multiprocessors();
  if (multiprocessors <= 0) return cudaErrorInvalidDevice;

  const hopper_gemm_detail::GemmOperands operands{shape, a, b, out, epilogue, multiprocessors};
  switch (type) {
    case ElementType::kFloat16: return hopper_gemm_detail::launch_f16(tile, operands, stream);
    case ElementType::kBFloat16: return hopper_gemm_detail::launch_bf16(tile, operands, stream);
    case ElementType::kFloat32: return hopper_gemm_detail::launch_tf32(tile, operands, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace ifx::kernels
