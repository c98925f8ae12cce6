// ifx_torch C++ API: optimize a TorchScript module with the fused ifx:: ops.
// Link against libifx_torch (which also registers the ops) and libtorch.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <map>
#include <memory>
#include <string>

namespace ifx_torch {

struct OptimizeOptions {
  // Rewrite aten::hardswish / aten::hardsigmoid into ifx's ops as well.
  bool fuse_aten_activations = true;
  // Fold batch norms into convs and fuse conv2d / linear with their residual
  // add and activation (ifx::conv2d_act, ifx::linear_act).
  bool fuse_layers = true;
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
// "fused": {pattern: n}}, where ops_before counts the graph torch.jit.freeze
// alone would give. Empty if the module did not come from optimize().
std::string report_json(const torch::jit::Module& module);

}  // namespace ifx_torch
