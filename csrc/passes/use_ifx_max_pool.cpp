#include "use_ifx_max_pool.h"

#include "pattern_utils.h"

namespace ifx::passes {

int64_t UseIfxMaxPool(const std::shared_ptr<torch::jit::Graph>& graph) {
  static const c10::Symbol ifx_max_pool = c10::Symbol::fromQualString("ifx::max_pool2d");
  static const char* const kSchema =
      "aten::max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, "
      "bool ceil_mode=False) -> Tensor";
  int64_t replaced = 0;
  for (Node* pool : nodes_of_kind(graph, c10::aten::max_pool2d)) {
    if (!pool->matches(kSchema)) continue;
    Node* ours = graph->create(ifx_max_pool, pool->inputs(), 1);
    ours->insertBefore(pool);
    ours->output()->setType(pool->output()->type());
    ours->copyMetadata(pool);
    pool->output()->replaceAllUsesWith(ours->output());
    pool->destroy();
    ++replaced;
  }
  return replaced;
}

}  // namespace ifx::passes
