#include "ifx_torch/cuda_graph_module.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#ifdef IFX_TORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace ifx_torch {
#ifdef IFX_TORCH_WITH_CUDA
namespace {

// The device of a call that can be replayed, else nullopt.
std::optional<c10::Device> replayable_device(const std::vector<c10::IValue>& inputs) {
  std::optional<c10::Device> device;
  for (const auto& input : inputs) {
    if (!input.isTensor()) return std::nullopt;
    const at::Tensor& t = input.toTensor();
    if (!t.is_cuda() || (device && t.device() != *device)) return std::nullopt;
    if (at::GradMode::is_enabled() && t.requires_grad()) return std::nullopt;
    device = t.device();
  }
  return device;
}

// Shapes, strides, dtypes and device of every input. No iostreams: see optimize.cpp.
std::string signature_of(const std::vector<c10::IValue>& inputs) {
  std::string key;
  for (const auto& input : inputs) {
    const at::Tensor& t = input.toTensor();
    key += std::string(c10::toString(t.scalar_type())) + "@" + std::to_string(t.get_device()) + "[";
    for (int64_t d = 0; d < t.dim(); ++d) {
      key += std::to_string(t.size(d)) + ":" + std::to_string(t.stride(d)) + ",";
    }
    key += "]";
  }
  return key;
}

// Outputs the caller owns: tensors (also inside tuples and lists) cloned.
c10::IValue clone_tensors(const c10::IValue& value) {
  if (value.isTensor()) return value.toTensor().clone();
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const auto& element : value.toTupleRef().elements()) elements.push_back(clone_tensors(element));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isTensorList()) {
    c10::List<at::Tensor> cloned;
    for (const at::Tensor& t : value.toTensorList()) cloned.push_back(t.clone());
    return cloned;
  }
  return value;
}

}  // namespace
#endif

struct CudaGraphModule::Impl {
  torch::jit::Module module;
  CudaGraphOptions options;
  mutable std::mutex mutex;
  bool warned = false;

#ifdef IFX_TORCH_WITH_CUDA
  struct Captured {
    std::vector<c10::IValue> static_inputs;
    c10::IValue static_output;
    std::unique_ptr<at::cuda::CUDAGraph> graph;  // null: capture failed, run plainly
  };
  std::list<std::pair<std::string, std::shared_ptr<Captured>>> cache;  // most recently used first
  std::optional<decltype(at::cuda::graph_pool_handle())> pool;
  cudaEvent_t last_replay = nullptr;  // replays share the pool's memory: never let them overlap

  std::shared_ptr<Captured> lookup_or_capture(const std::string& key, const std::vector<c10::IValue>& inputs,
                                              c10::Device device) {
    for (auto it = cache.begin(); it != cache.end(); ++it) {
      if (it->first == key) {
        cache.splice(cache.begin(), cache, it);
        return cache.front().second;
      }
    }
    auto captured = std::make_shared<Captured>();
    try {
      capture(*captured, inputs, device);
    } catch (const std::exception& error) {
      captured->graph.reset();
      if (!warned) {
        warned = true;
        TORCH_WARN("ifx_torch: CUDA graph capture failed (", error.what(),
                   "); this input signature runs without graph replay");
      }
    }
    cache.emplace_front(key, captured);
    if (cache.size() > options.max_graphs) cache.pop_back();
    return captured;
  }

  void capture(Captured& captured, const std::vector<c10::IValue>& inputs, c10::Device device) {
    const c10::cuda::CUDAGuard device_guard(device);
    const at::NoGradGuard no_grad;
    for (const auto& input : inputs) captured.static_inputs.emplace_back(input.toTensor().clone());
    if (!pool) pool = at::cuda::graph_pool_handle();
    at::cuda::CUDAStream side = at::cuda::getStreamFromPool(false, device.index());
    at::cuda::getCurrentCUDAStream(device.index()).synchronize();
    const c10::cuda::CUDAStreamGuard stream_guard(side);
    try {
      for (int i = 1; i < options.warmup_calls; ++i) module.forward(captured.static_inputs);
      forward_failing_on_host_sync(captured.static_inputs);
      side.synchronize();
      captured.graph = std::make_unique<at::cuda::CUDAGraph>();
      capture_forward(captured, side, device);
    } catch (...) {
      // A failed signature keeps no buffers (after an out-of-memory error, that memory is
      // wanted back), and the side stream must be done reading them before they are freed.
      try {
        side.synchronize();
      } catch (...) {
      }
      captured.static_inputs.clear();
      captured.static_output = c10::IValue();
      captured.graph.reset();
      throw;
    }
  }

  // One forward captured into captured.graph. Whatever fails, the capture is over when this
  // returns or throws.
  void capture_forward(Captured& captured, at::cuda::CUDAStream side, c10::Device device) {
    try {
      captured.graph->capture_begin(*pool);
    } catch (...) {
      stop_allocating_to_pool(device);  // torch routes the allocator to the pool before it begins
      throw;
    }
    try {
      captured.static_output = module.forward(captured.static_inputs);
    } catch (...) {
      try {
        captured.graph->capture_end();
      } catch (...) {  // an invalidated capture: cudaStreamEndCapture has ended it all the same
        clean_up_after_invalid_capture(side, device);
      }
      throw;  // the forward's error (out of memory, a sync, ...) says more than capture_end's
    }
    try {
      captured.graph->capture_end();
    } catch (...) {
      clean_up_after_invalid_capture(side, device);
      throw;
    }
  }

  // When capture_end fails in cudaStreamEndCapture, torch skips the rest of it, which
  // leaves state behind even though the capture itself is over.
  void clean_up_after_invalid_capture(at::cuda::CUDAStream side, c10::Device device) {
    stop_allocating_to_pool(device);
    settle_generator(side, device);
    (void)cudaGetLastError();  // the failed call's error must not surface in a later launch check
  }

  // Left routed to the graph's pool, the allocator counts a capture underway for good: it
  // never again reclaims memory used across streams, nor frees its cache to satisfy a
  // failing allocation. Where torch did end the routing, there is nothing to end.
  void stop_allocating_to_pool(c10::Device device) {
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(device.index(), *pool);
    } catch (...) {
    }
  }

  // Where the CUDA generator keeps one capturing flag (older torch), a capture that never
  // reached its epilogue leaves it set, and every later random op on the device throws. A
  // small capture that ends normally runs the prologue and epilogue again; with per-capture
  // generator states (newer torch) it changes nothing.
  static void settle_generator(at::cuda::CUDAStream side, c10::Device device) {
    try {
      const c10::cuda::CUDAStreamGuard stream_guard(side);
      at::cuda::CUDAGraph graph;
      graph.capture_begin();  // its own private pool, released with the graph
      try {
        at::zeros({1}, at::TensorOptions().device(device));
      } catch (...) {
      }
      graph.capture_end();
    } catch (...) {  // best effort: the original error is the one to report
    }
  }

  // A host sync would make the capture fail, and a capture that fails part-way
  // leaves state behind in torch that must then be cleaned up (see
  // clean_up_after_invalid_capture), so the last warm-up call turns syncs into
  // errors. The mode is process-wide for this one call.
  void forward_failing_on_host_sync(const std::vector<c10::IValue>& inputs) {
    auto& state = c10::cuda::warning_state();
    const auto previous = state.get_sync_debug_mode();
    state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
    try {
      module.forward(inputs);
    } catch (...) {
      state.set_sync_debug_mode(previous);
      throw;
    }
    state.set_sync_debug_mode(previous);
  }

  c10::IValue replay(Captured& captured, const std::vector<c10::IValue>& inputs, c10::Device device) {
    const c10::cuda::CUDAGuard device_guard(device);
    const at::NoGradGuard no_grad;
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream(device.index()).stream();
    if (last_replay == nullptr) {
      C10_CUDA_CHECK(cudaEventCreateWithFlags(&last_replay, cudaEventDisableTiming));
    } else {
      C10_CUDA_CHECK(cudaStreamWaitEvent(stream, last_replay, 0));
    }
    for (size_t i = 0; i < inputs.size(); ++i) captured.static_inputs[i].toTensor().copy_(inputs[i].toTensor());
    captured.graph->replay();
    c10::IValue output = clone_tensors(captured.static_output);
    C10_CUDA_CHECK(cudaEventRecord(last_replay, stream));
    return output;
  }

  ~Impl() {
    if (last_replay != nullptr) cudaEventDestroy(last_replay);
  }
#endif
};

CudaGraphModule::CudaGraphModule(torch::jit::Module module, CudaGraphOptions options)
    : impl_(std::make_unique<Impl>()) {
  TORCH_CHECK(options.max_graphs >= 1, "ifx_torch::CudaGraphModule: max_graphs must be at least 1");
  TORCH_CHECK(options.warmup_calls >= 1, "ifx_torch::CudaGraphModule: warmup_calls must be at least 1");
  impl_->module = std::move(module);
  impl_->options = options;
}

CudaGraphModule::~CudaGraphModule() = default;

c10::IValue CudaGraphModule::forward(const std::vector<c10::IValue>& inputs) {
#ifdef IFX_TORCH_WITH_CUDA
  if (const auto device = replayable_device(inputs)) {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    auto captured = impl_->lookup_or_capture(signature_of(inputs), inputs, *device);
    if (captured->graph) return impl_->replay(*captured, inputs, *device);
  }
#endif
  return impl_->module.forward(inputs);
}

size_t CudaGraphModule::captured_graphs() const {
#ifdef IFX_TORCH_WITH_CUDA
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  size_t count = 0;
  for (const auto& entry : impl_->cache) count += entry.second->graph != nullptr;
  return count;
#else
  return 0;
#endif
}

torch::jit::Module& CudaGraphModule::module() { return impl_->module; }

}  // namespace ifx_torch
