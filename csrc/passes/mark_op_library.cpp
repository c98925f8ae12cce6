#include "mark_op_library.h"

#include <torch/csrc/jit/runtime/graph_iterator.h>

namespace ifx::passes {
namespace {

const c10::Symbol kMarker = c10::Symbol::fromQualString("ifx::needs_op_library");

// Whether any node, nested blocks included, is an ifx:: op; and whether the
// marker is among them.
struct IfxUse {
  bool any_op = false;
  bool marked = false;
};

IfxUse find_ifx_use(const std::shared_ptr<torch::jit::Graph>& graph) {
  static const auto ifx = c10::Symbol::fromQualString("namespaces::ifx");
  IfxUse use;
  std::shared_ptr<torch::jit::Graph> graph_copy = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(graph_copy);
  for (torch::jit::Node* node = it.next(); node != nullptr; node = it.next()) {
    if (node->kind() == kMarker) use.marked = true;
    else if (node->kind().ns() == ifx) use.any_op = true;
  }
  return use;
}

}  // namespace

const char* const kHowToLoadOpLibrary =
    "this model calls ifx_torch's fused ops: load the op library first, with `import ifx_torch` in "
    "Python, or by linking (or dlopen-ing) libifx_torch.so in C++, before torch.jit.load";

bool MarkOpLibrary(const std::shared_ptr<torch::jit::Graph>& graph) {
  const IfxUse use = find_ifx_use(graph);
  if (!use.any_op || use.marked) return false;
  torch::jit::WithInsertPoint at_start(graph->block()->nodes().front());
  torch::jit::Value* how_to_load = graph->insertConstant(std::string(kHowToLoadOpLibrary));
  graph->insertNode(graph->create(kMarker, {how_to_load}, /*num_outputs=*/0));
  return true;
}

}  // namespace ifx::passes
