#include "ifx_torch/ifx_torch.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>

#include <string>
#include <vector>

#include "passes/mark_op_library.h"
#include "passes/pipeline.h"

namespace ifx_torch {
namespace {

constexpr const char* kReportAttribute = "ifx_report";

// A JSON string literal: the refusal reasons hold quotes ('same') and could hold anything.
std::string json_string(const std::string& text) {
  static const char* const hex = "0123456789abcdef";
  std::string out = "\"";
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Plain string building, no iostreams: numeric stream output crashed inside
// the Python extension as torch 2.11's build flags compile it.
std::string json_counts(const std::map<std::string, int64_t>& counts) {
  std::string out = "{";
  for (const auto& [key, count] : counts) {
    if (out.size() > 1) out += ", ";
    out += json_string(key) + ": " + std::to_string(count);
  }
  return out + "}";
}

std::string json_refusals(const std::vector<ifx::passes::Refusal>& refused) {
  std::string out = "[";
  for (const auto& refusal : refused) {
    if (out.size() > 1) out += ", ";
    out += "[" + json_string(refusal.op) + ", " + json_string(refusal.reason) + "]";
  }
  return out + "]";
}

std::string make_report_json(const std::map<std::string, int64_t>& ops_before,
                             const std::map<std::string, int64_t>& ops_after,
                             const std::map<std::string, int64_t>& fused,
                             const std::vector<ifx::passes::Refusal>& refused) {
  return "{\"ops_before\": " + json_counts(ops_before) + ", \"ops_after\": " + json_counts(ops_after) +
         ", \"fused\": " + json_counts(fused) + ", \"unfused\": " + json_refusals(refused) + "}";
}

}  // namespace

torch::jit::Module optimize(const torch::jit::Module& module, const OptimizeOptions& options) {
  TORCH_CHECK(!module.hasattr("training") || !module.is_training(),
              "ifx_torch.optimize: the model is in training mode; call model.eval() first "
              "(the fused ops are for inference and freezing folds batch-norm statistics)");
  TORCH_CHECK(module.find_method("forward").has_value(),
              "ifx_torch.optimize: the module has no forward method");
  // torch::jit::freeze = freeze_module + OptimizeFrozenGraph. Our passes go in
  // between: OptimizeFrozenGraph folds a `+ 3` after a conv into its bias and
  // merges common subexpressions, both of which break activation chains apart.
  torch::jit::Module frozen = torch::jit::freeze_module(module);
  std::shared_ptr<torch::jit::Graph> graph = frozen.get_method("forward").graph();

  // "Before" is what torch.jit.freeze alone would give.
  std::shared_ptr<torch::jit::Graph> baseline = graph->copy();
  torch::jit::OptimizeFrozenGraph(baseline);
  const auto ops_before = ifx::passes::OpHistogram(baseline);

  std::vector<ifx::passes::Refusal> refused;
  const auto fused = ifx::passes::RunPipeline(graph, options, &refused);
  torch::jit::OptimizeFrozenGraph(graph);
  const auto ops_after = ifx::passes::OpHistogram(graph);

  // Last, after dead-code elimination: the marker has no outputs.
  ifx::passes::MarkOpLibrary(graph);

  const std::string report = make_report_json(ops_before, ops_after, fused, refused);
  if (frozen.hasattr(kReportAttribute)) {
    frozen.setattr(kReportAttribute, report);
  } else {
    frozen.register_attribute(kReportAttribute, c10::StringType::get(), report);
  }
  return frozen;
}

std::map<std::string, int64_t> op_histogram(const std::shared_ptr<torch::jit::Graph>& graph) {
  return ifx::passes::OpHistogram(graph);
}

std::string report_json(const torch::jit::Module& module) {
  if (!module.hasattr(kReportAttribute)) return "";
  return module.attr(kReportAttribute).toStringRef();
}

}  // namespace ifx_torch
