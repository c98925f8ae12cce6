// Plugin mode: with auto fusion on, TorchScript's graph executor runs the ifx
// passes on every graph it optimizes, so a plain model loaded with
// torch::jit::load gets the fusions without code changes. Registered as a
// post pass: those run on the executor's optimized copy, after profiling, on
// graphs that need no gradient.
#include <torch/csrc/jit/passes/pass_manager.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "ifx_torch/ifx_torch.h"
#include "passes/pipeline.h"

namespace ifx_torch {
namespace {

std::atomic<bool> auto_fusion_on{false};

void run_passes_if_on(std::shared_ptr<torch::jit::Graph>& graph) {
  if (auto_fusion_on.load()) ifx::passes::RunPipeline(graph, {});
}

// IFX_TORCH_AUTO_FUSION=1 turns the plugin on when the library loads (e.g.
// preloaded into a server), without a call from the program.
const bool enabled_from_environment = [] {
  const char* value = std::getenv("IFX_TORCH_AUTO_FUSION");
  if (value != nullptr && std::strcmp(value, "1") == 0) enable_auto_fusion();
  return true;
}();

}  // namespace

void enable_auto_fusion() {
  static std::once_flag registered;
  std::call_once(registered, [] { torch::jit::registerPostPass(run_passes_if_on); });
  auto_fusion_on.store(true);
}

void disable_auto_fusion() { auto_fusion_on.store(false); }

bool auto_fusion_enabled() { return auto_fusion_on.load(); }

}  // namespace ifx_torch
