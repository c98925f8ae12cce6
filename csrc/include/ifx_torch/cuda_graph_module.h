// ifx_torch::CudaGraphModule: run a TorchScript module as CUDA graphs, one per
// input signature, from C++ (the counterpart of ifx_torch.CudaGraphModule).
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <vector>

namespace ifx_torch {

struct CudaGraphOptions {
  size_t max_graphs = 8;  // captured signatures kept, least recently used evicted
  int warmup_calls = 3;   // plain calls on a side stream before each capture
};

// Calls whose inputs are all CUDA tensors of one device (and none requires
// grad while grad mode is on) are replayed from a graph captured for their
// shapes, strides, dtypes and device; inputs are copied into the graph's static
// buffers and outputs returned as fresh tensors. Other calls, and signatures
// whose capture failed (warned once), run the module as it is. A failed capture
// (a host sync in the model, CUDA out of memory in the warm-up or the capture)
// is ended whatever failed, and keeps no buffers. Thread-safe.
// In a build without CUDA every call runs the module as it is. Graphs are not
// saved with a model: they are captured on the first calls after loading.
class CudaGraphModule {
 public:
  explicit CudaGraphModule(torch::jit::Module module, CudaGraphOptions options = {});
  ~CudaGraphModule();
  CudaGraphModule(const CudaGraphModule&) = delete;
  CudaGraphModule& operator=(const CudaGraphModule&) = delete;

  c10::IValue forward(const std::vector<c10::IValue>& inputs);
  size_t captured_graphs() const;
  torch::jit::Module& module();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ifx_torch
