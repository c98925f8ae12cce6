// The CUDA graph backend of CudaGraphModule: warm-up on one side stream,
// capture into one memory pool shared by the module's graphs, and replays
// kept from overlapping on the GPU. In a build without CUDA nothing replays.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "capture_steps.h"
#include "ifx_torch/cuda_graph_module.h"

#ifdef IFX_TORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace ifx_torch {
namespace {

#ifdef IFX_TORCH_WITH_CUDA

// torch's capture calls for one graph, as capture_with_cleanup drives them.
class TorchCaptureSteps : public detail::CaptureSteps {
 public:
  TorchCaptureSteps(at::cuda::CUDAGraph& graph, at::cuda::MempoolId_t pool, at::cuda::CUDAStream side, c10::Device device)
      : graph_(graph), pool_(pool), side_(side), device_(device) {}

  void begin() override { graph_.capture_begin(pool_); }
  void end() override { graph_.capture_end(); }

  // Left routed to the graph's pool, the allocator counts a capture underway
  // for good: it never again reclaims memory used across streams, nor frees
  // its cache to satisfy a failing allocation.
  void stop_allocating_to_pool() override {
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(device_.index(), pool_);
    } catch (...) {
    }
  }

  // Where the CUDA generator keeps one capturing flag (older torch), a capture
  // that never reached its epilogue leaves it set, and every later random op
  // throws; a small capture that ends normally runs the prologue and epilogue
  // again (with per-capture generator states, newer torch, it changes
  // nothing). The failed call's CUDA error must not surface in a later launch
  // check either.
  void settle_after_invalid_capture() override {
    try {
      const c10::cuda::CUDAStreamGuard stream_guard(side_);
      at::cuda::CUDAGraph graph;
      graph.capture_begin();  // its own private pool, released with the graph
      try {
        at::zeros({1}, at::TensorOptions().device(device_));
      } catch (...) {
      }
      graph.capture_end();
    } catch (...) {  // best effort: the original error is the one to report
    }
    (void)cudaGetLastError();
  }

 private:
  at::cuda::CUDAGraph& graph_;
  at::cuda::MempoolId_t pool_;
  at::cuda::CUDAStream side_;
  c10::Device device_;
};

// A host sync would invalidate the capture, and a capture that fails part-way
// leaves state behind in torch that must then be cleaned up, so the last
// warm-up call turns syncs into errors. The mode is process-wide for this call.
c10::IValue call_failing_on_host_sync(const GraphCall& call, const std::vector<c10::IValue>& inputs) {
  auto& state = c10::cuda::warning_state();
  const auto previous = state.get_sync_debug_mode();
  state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
  try {
    c10::IValue output = call(inputs);
    state.set_sync_debug_mode(previous);
    return output;
  } catch (...) {
    state.set_sync_debug_mode(previous);
    throw;
  }
}

class CudaBackend : public GraphBackend {
 public:
  ~CudaBackend() override {
    if (last_replay_ != nullptr) cudaEventDestroy(last_replay_);
  }

  std::optional<c10::Device> replay_device(const std::vector<at::Tensor>& tensors) override {
    if (tensors.empty()) return std::nullopt;
    const bool grad = at::GradMode::is_enabled();
    const c10::Device device = tensors.front().device();
    for (const at::Tensor& t : tensors) {
      if (!t.is_cuda() || t.device() != device || (grad && t.requires_grad())) return std::nullopt;
    }
    return device;
  }

  CapturedGraph capture(const GraphCall& call, const std::vector<c10::IValue>& static_inputs, c10::Device device,
                        int warmup_calls) override {
    const c10::cuda::CUDAGuard device_guard(device);
    const at::NoGradGuard no_grad;
    if (!pool_) pool_ = at::cuda::graph_pool_handle();
    // One side stream for every warm-up and capture: the memory a warm-up
    // frees stays cached on it for the next one, instead of on a new stream
    // per capture (which is how concurrent callers multiplied the memory held).
    if (!side_) side_ = at::cuda::getStreamFromPool(false, device.index());
    at::cuda::getCurrentCUDAStream(device.index()).synchronize();  // the static inputs are ready
    const c10::cuda::CUDAStreamGuard stream_guard(*side_);
    auto graph = std::make_shared<at::cuda::CUDAGraph>();
    c10::IValue output;
    try {
      for (int i = 1; i < warmup_calls; ++i) call(static_inputs);  // also lets TorchScript's profiling settle
      call_failing_on_host_sync(call, static_inputs);
      side_->synchronize();
      TorchCaptureSteps steps(*graph, *pool_, *side_, device);
      output = detail::capture_with_cleanup(steps, [&] { return call(static_inputs); });
    } catch (...) {
      // The side stream must be done reading the static inputs before the caller frees them.
      try {
        side_->synchronize();
      } catch (...) {
      }
      throw;
    }
    return CapturedGraph{output, [graph] { graph->replay(); }};
  }

  // Replays share the pool's memory: a replay from another stream than the
  // last one waits for it. Same-stream replays are ordered already.
  void before_replay(c10::Device device) override {
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream(device.index()).stream();
    if (last_replay_ != nullptr && stream != last_stream_) C10_CUDA_CHECK(cudaStreamWaitEvent(stream, last_replay_, 0));
  }

  void after_replay(c10::Device device) override {
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream(device.index()).stream();
    if (last_replay_ == nullptr) C10_CUDA_CHECK(cudaEventCreateWithFlags(&last_replay_, cudaEventDisableTiming));
    C10_CUDA_CHECK(cudaEventRecord(last_replay_, stream));
    last_stream_ = stream;
  }

 private:
  std::optional<at::cuda::MempoolId_t> pool_;
  std::optional<at::cuda::CUDAStream> side_;
  cudaEvent_t last_replay_ = nullptr;
  cudaStream_t last_stream_ = nullptr;
};

#else

class NoReplayBackend : public GraphBackend {
 public:
  std::optional<c10::Device> replay_device(const std::vector<at::Tensor>&) override { return std::nullopt; }
  CapturedGraph capture(const GraphCall&, const std::vector<c10::IValue>&, c10::Device, int) override {
    TORCH_CHECK(false, "ifx_torch: this build has no CUDA, so it captures no graphs");
  }
  void before_replay(c10::Device) override {}
  void after_replay(c10::Device) override {}
};

#endif

}  // namespace

std::shared_ptr<GraphBackend> cuda_graph_backend() {
#ifdef IFX_TORCH_WITH_CUDA
  return std::make_shared<CudaBackend>();
#else
  return std::make_shared<NoReplayBackend>();
#endif
}

}  // namespace ifx_torch
