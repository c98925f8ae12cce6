#include "mark_op_library.h"

#include <algorithm>

#include "pipeline.h"

namespace ifx::passes {

const char* const kHowToLoadOpLibrary =
    "this model calls ifx_torch's fused ops: load the op library first, with `import ifx_torch` in "
    "Python, or by linking (or dlopen-ing) libifx_torch.so in C++, before torch.jit.load";

bool MarkOpLibrary(const std::shared_ptr<torch::jit::Graph>& graph) {
  static const std::string kMarker = "ifx::needs_op_library";
  const std::map<std::string, int64_t> ops = OpHistogram(graph);
  const bool calls_ifx_ops = std::any_of(ops.begin(), ops.end(), [](const auto& entry) {
    return entry.first.rfind("ifx::", 0) == 0 && entry.first != kMarker;
  });
  if (!calls_ifx_ops || ops.count(kMarker) > 0) return false;
  torch::jit::WithInsertPoint at_start(graph->block()->nodes().front());
  torch::jit::Value* how_to_load = graph->insertConstant(std::string(kHowToLoadOpLibrary));
  graph->insertNode(graph->create(c10::Symbol::fromQualString(kMarker), {how_to_load}, /*num_outputs=*/0));
  return true;
}

}  // namespace ifx::passes
