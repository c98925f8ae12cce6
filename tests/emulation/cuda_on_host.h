// CUDA kernels compiled as host C++ (force-included before a kernel source):
// the CUDA headers for their types and host conversions, then the kernel
// keywords made plain C++, and the built-in indices as per-thread variables
// that launch.cuh (this folder's, which the kernel source includes in place of
// csrc/kernels/launch.cuh) sets for every CUDA thread it runs as a host thread.
// __syncthreads is a barrier of the block's threads, so a barrier that not
// every thread reaches hangs the test instead of passing it; a warp shuffle
// is a meeting of the warp's threads (every lane posts its value, then reads
// its partner's). A static __shared__ array is a static of the kernel
// function, one for all the host threads of the running block.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstring>

#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __forceinline__
#define __forceinline__ inline
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __shared__
#define __shared__ static

namespace ifx::emulation {
struct Index {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Index thread_index, block_index;
inline Index block_dim, grid_dim;
inline thread_local std::barrier<>* block_barrier = nullptr;
// The running thread's warp: its lanes' barrier and the values they exchange.
struct Warp {
  explicit Warp(std::ptrdiff_t lanes) : barrier(lanes) {}
  std::barrier<> barrier;
  alignas(16) unsigned char values[32][16];
};
inline thread_local Warp* warp = nullptr;
inline thread_local unsigned lane = 0;
// The running block's dynamic shared memory (blocks run one at a time).
inline unsigned char* shared_memory = nullptr;
}  // namespace ifx::emulation

#define threadIdx ::ifx::emulation::thread_index
#define blockIdx ::ifx::emulation::block_index
#define blockDim ::ifx::emulation::block_dim
#define gridDim ::ifx::emulation::grid_dim
inline void __syncthreads() { ifx::emulation::block_barrier->arrive_and_wait(); }
template <typename T> T __shfl_xor_sync(unsigned, T value, int lane_mask) {
  static_assert(sizeof(T) <= 16, "a shuffle moves at most 16 bytes here");
  ifx::emulation::Warp& warp = *ifx::emulation::warp;
  std::memcpy(warp.values[ifx::emulation::lane], &value, sizeof(T));
  warp.barrier.arrive_and_wait();
  T other;
  std::memcpy(&other, warp.values[ifx::emulation::lane ^ unsigned(lane_mask)], sizeof(T));
  warp.barrier.arrive_and_wait();  // nobody posts the next value before every lane has read this one
  return other;
}
// The device's approximate division (a reciprocal, then a multiply) on the
// host: the test checks against float64 with tolerances that cover its 2 ulp.
inline float __fdividef(float x, float y) { return x * (1.0f / y); }
using std::exp;
using std::log1p;
using std::max;
using std::min;
using std::tanh;
