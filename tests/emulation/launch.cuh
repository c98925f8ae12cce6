// The emulation's launch (see cuda_on_host.h): every block in turn, each of
// its CUDA threads as a host thread, dynamic shared memory poisoned first.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace ifx::kernels {

inline void wait_for_previous_kernel() {}

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t,
                   Args&&... args) {
  namespace emu = ifx::emulation;
  emu::grid_dim = {grid.x, grid.y, grid.z};
  emu::block_dim = {block.x, block.y, block.z};
  const unsigned threads = block.x * block.y * block.z;
  std::vector<unsigned char> shared(shared_bytes + 16);
  emu::shared_memory =
      reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(shared.data()) + 15) & ~uintptr_t(15));
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        std::fill(shared.begin(), shared.end(), 0xFF);  // NaN in every floating type
        std::barrier<> barrier(threads);
        std::vector<std::unique_ptr<emu::Warp>> warps;
        for (unsigned first = 0; first < threads; first += 32) {
          warps.push_back(std::make_unique<emu::Warp>(std::min(32u, threads - first)));
        }
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) {
          pool.emplace_back([&, t] {
            emu::block_index = {x, y, z};
            emu::thread_index = {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
            emu::block_barrier = &barrier;
            emu::warp = warps[t / 32].get();
            emu::lane = t % 32;
            kernel(args...);
            barrier.arrive_and_drop();  // a finished thread no longer holds up the others' barriers
            emu::warp->barrier.arrive_and_drop();
          });
        }
        for (std::thread& thread : pool) thread.join();
      }
    }
  }
  return cudaSuccess;
}

}  // namespace ifx::kernels
