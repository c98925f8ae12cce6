// ifx_torch C++ API: optimize a TorchScript module with the fused ifx:: ops,
// or load an AOTInductor package (.pt2) that calls them. Link against
// libifx_torch (which also registers the ops) and libtorch.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}  // namespace torch::inductor

namespace ifx_torch {

struct OptimizeOptions {
  // Rewrite aten::hardswish / aten::hardsigmoid into ifx's ops as well.
  bool fuse_aten_activations = true;
  // Fold batch norms into convs and fuse conv2d / linear with their residual
  // add and activation (ifx::conv2d_act, ifx::linear_act).
  bool fuse_layers = true;
  // Fuse squeeze-and-excitation blocks (ifx::squeeze_excite; needs fuse_layers).
  bool fuse_squeeze_excitation = true;
  // Run the convs of a CUDA model in channels_last (weights converted once):
  // kAuto does where cuDNN and our kernels run NHWC natively, i.e. 16-bit
  // weights, and fp32 ones while torch lets cuDNN use TF32 when optimize()
  // runs (torch.backends.cudnn.allow_tf32, its default).
  enum class Layout { kAuto, kChannelsLast, kKeep };
  Layout conv_layout = Layout::kAuto;
};

// Freezes an eval-mode module and runs the fusion passes on its forward.
// Returns a new module; `module` is left unchanged. The result carries a JSON
// report (see report_json) and saves/loads like any TorchScript module; loading
// it needs the ifx ops registered (link libifx_torch, or `import ifx_torch`).
// Throws c10::Error with a readable message for a module in training mode or
// without a forward method.
torch::jit::Module optimize(const torch::jit::Module& module, const OptimizeOptions& options = {});

// Plugin mode (off by default): the ifx passes run inside TorchScript's graph
// executor on every graph it optimizes for execution, so an unmodified model
// loaded with torch::jit::load gets the activation fusions (convs and linears
// fuse only in frozen graphs, whose weights are constants: use optimize() for
// those). Takes effect from the executor's next optimization of a graph
// (after its profiling runs). Idempotent; safe for CPU-only models. Setting
// IFX_TORCH_AUTO_FUSION=1 before the library loads turns it on as well.
void enable_auto_fusion();
void disable_auto_fusion();
bool auto_fusion_enabled();

// The aten:: and ifx:: nodes of a graph counted by kind, nested blocks
// included: the counts optimize() reports, for any graph.
std::map<std::string, int64_t> op_histogram(const std::shared_ptr<torch::jit::Graph>& graph);

// The report optimize() attached: {"ops_before": {kind: n}, "ops_after": {...},
// "fused": {pattern: n}, "unfused": [[kind, reason], ...]}, where ops_before
// counts the graph torch.jit.freeze alone would give and "unfused" says why
// each candidate a pass turned down was left alone. Empty if the module did
// not come from optimize().
std::string report_json(const torch::jit::Module& module);

// An AOTInductor package (.pt2) that Python's ifx_torch.save_package wrote
// (optimize(..., frontend="export")), loaded by load_package. Calling it runs
// the compiled graph: the model's tensor arguments in order in, its outputs
// flattened in order out. Copies share one loaded model; calls from several
// threads take turns, and CudaGraphModule captures it. The fused ops it calls
// are this library's, so it runs in any program linked against libifx_torch.
class Package {
 public:
  std::vector<at::Tensor> operator()(const std::vector<at::Tensor>& inputs) const;
  // AOTInductor's metadata (AOTI_DEVICE_KEY, ...) and ifx_torch's: the
  // optimize report under "ifx_torch.report", the ops it calls under "ifx_torch.ops".
  const std::unordered_map<std::string, std::string>& metadata() const { return metadata_; }
  // The report as report_json gives it for TorchScript ("frontend": "export" added); "" if none.
  std::string report_json() const;
  const c10::Device& device() const { return device_; }

 private:
  friend Package load_package(const std::string& path, const c10::Device& device);
  std::shared_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  std::shared_ptr<std::mutex> run_turn_ = std::make_shared<std::mutex>();
  std::unordered_map<std::string, std::string> metadata_;
  c10::Device device_ = c10::Device(c10::kCPU);
};

// Loads the package at `path` to run on `device`, which must be of the device
// type it was compiled for (a package saved from a CPU model runs on the CPU).
// Throws c10::Error with a readable message for a file that is no package, a
// device it was not compiled for, or a package calling an ifx op this library
// does not register (one saved by another ifx_torch version); the message says
// how to load the op library.
Package load_package(const std::string& path, const c10::Device& device = c10::Device(c10::kCPU));

}  // namespace ifx_torch
