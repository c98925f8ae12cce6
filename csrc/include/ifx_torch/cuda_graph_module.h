// ifx_torch::CudaGraphModule: run a TorchScript module, or any call, as CUDA
// graphs, one per input signature. The one implementation of graph replay:
// Python's ifx_torch.CudaGraphModule binds it.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ifx_torch {

// What a CudaGraphModule runs: the module's forward, or any call on the same
// arguments (Python binds its callables through this).
using GraphCall = std::function<c10::IValue(const std::vector<c10::IValue>&)>;

struct CudaGraphOptions {
  size_t max_graphs = 8;        // captured signatures kept, least recently used evicted
  int warmup_calls = 3;         // plain calls on a side stream before each capture
  bool static_outputs = false;  // return the graph's own output buffers (the next call overwrites them)
};

// A captured call: its output buffers and what replays it.
struct CapturedGraph {
  c10::IValue static_output;
  std::function<void()> replay;
};

// How graphs are captured and replayed. The default is CUDA's (graphs in one
// shared memory pool, replays kept from overlapping on the GPU); tests on the
// CPU substitute one that re-runs the call.
class GraphBackend {
 public:
  virtual ~GraphBackend() = default;
  // The device to replay a call with these tensor arguments on, or nullopt to
  // run it as it is.
  virtual std::optional<c10::Device> replay_device(const std::vector<at::Tensor>& tensors) = 0;
  // Warms `call` up and captures one run of it on `static_inputs` (the
  // runner's copies of the arguments). Throws when that fails, having ended
  // whatever it started.
  virtual CapturedGraph capture(const GraphCall& call, const std::vector<c10::IValue>& static_inputs,
                                c10::Device device, int warmup_calls) = 0;
  // Around each replay, under the runner's lock.
  virtual void before_replay(c10::Device device) = 0;
  virtual void after_replay(c10::Device device) = 0;
};

// The CUDA backend; in a build without CUDA, one that never replays.
std::shared_ptr<GraphBackend> cuda_graph_backend();

// The warning text for a capture that failed with `error`: the error's own
// line (also when TorchScript's traceback comes first) and its usual cause.
std::string capture_failure_message(const std::string& error);

// Calls whose tensor arguments the backend accepts (on CUDA: all on one CUDA
// device, none requiring grad while grad mode is on) are replayed from a graph
// captured for their signature: the structure of the arguments (tuples, lists,
// dicts, and non-tensor values) and each tensor's shape, strides, dtype and
// device. Arguments are copied into the graph's static buffers; outputs are
// fresh tensors unless options.static_outputs. Other calls, and signatures
// whose capture failed (warned once per module), run the call as it is. A
// failed capture (a host sync in the model, CUDA out of memory in the warm-up
// or the capture) is ended whatever failed, and keeps no buffers. Thread-safe:
// replays never overlap, from any stream. Graphs are not saved with a model:
// they are captured on the first calls after loading.
class CudaGraphModule {
 public:
  explicit CudaGraphModule(torch::jit::Module module, CudaGraphOptions options = {});
  // `warn` receives the capture-failure warning (default: TORCH_WARN).
  CudaGraphModule(GraphCall call, CudaGraphOptions options, std::shared_ptr<GraphBackend> backend = nullptr,
                  std::function<void(const std::string&)> warn = nullptr);
  ~CudaGraphModule();
  CudaGraphModule(const CudaGraphModule&) = delete;
  CudaGraphModule& operator=(const CudaGraphModule&) = delete;

  c10::IValue forward(const std::vector<c10::IValue>& inputs);
  size_t captured_graphs() const;
  const CudaGraphOptions& options() const;
  // The module it was made from; throws for one made from a call.
  torch::jit::Module& module();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ifx_torch
