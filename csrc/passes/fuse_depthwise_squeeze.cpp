#include "fuse_depthwise_squeeze.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <vector>

#include "pattern_utils.h"

namespace ifx::passes {
namespace {

const c10::Symbol kConv2dAct = c10::Symbol::fromQualString("ifx::conv2d_act");
const c10::Symbol kSqueezeExcite = c10::Symbol::fromQualString("ifx::squeeze_excite");
const c10::Symbol kConv2dActSqueezeExcite = c10::Symbol::fromQualString("ifx::conv2d_act_squeeze_excite");

// conv2d_act(input, weight, bias, stride, padding, dilation, groups, residual, activation)
bool is_depthwise(Node* conv) {
  const auto weight = constant_tensor(conv->input(1));
  const auto groups = torch::jit::toIValue(conv->input(6));
  return weight && groups && groups->isInt() && weight->dim() == 4 && weight->size(1) == 1 &&
         weight->size(0) == groups->toInt();
}

// Users that read only the conv output's sizes (a module's shape checks): the
// block's output has the same sizes, so they may read those instead.
bool reads_sizes_only(Node* user) { return user->kind() == c10::aten::size || user->kind() == c10::aten::dim; }

// The block's other inputs (fc weights, biases, names) are defined before
// the conv, or are constants that can move there: the fused node takes the
// conv's place, ahead of any size read of its output.
bool inputs_movable_before(Node* block, Node* conv) {
  for (size_t i = 1; i < block->inputs().size(); ++i) {
    Node* producer = block->input(i)->node();
    if (producer->kind() != c10::prim::Constant && !producer->isBefore(conv)) return false;
  }
  return true;
}

bool takes_conv(Node* conv, Node* block) {
  if (conv->kind() != kConv2dAct || conv->owningBlock() != block->owningBlock() || !is_depthwise(conv)) return false;
  for (const auto& use : conv->output()->uses()) {
    if (use.user != block && !reads_sizes_only(use.user)) return false;
  }
  return inputs_movable_before(block, conv);
}

}  // namespace

int64_t FuseDepthwiseSqueeze(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<std::pair<Node*, Node*>> pairs;  // (conv, block)
  for (Node* block : nodes_of_kind(graph, kSqueezeExcite)) {
    Node* conv = block->input(0)->node();
    if (takes_conv(conv, block)) pairs.emplace_back(conv, block);
  }
  for (const auto& [conv, block] : pairs) {
    for (size_t i = 1; i < block->inputs().size(); ++i) {
      Node* producer = block->input(i)->node();
      if (!producer->isBefore(conv)) producer->moveBefore(conv);  // a constant (inputs_movable_before)
    }
    std::vector<Value*> inputs(conv->inputs().begin(), conv->inputs().end());
    inputs.insert(inputs.end(), block->inputs().begin() + 1, block->inputs().end());
    Node* fused = graph->create(kConv2dActSqueezeExcite, inputs);
    fused->insertBefore(conv);
    fused->output()->setType(block->output()->type());
    block->output()->replaceAllUsesWith(fused->output());
    block->destroy();
    conv->output()->replaceAllUsesWith(fused->output());  // the size reads
    conv->destroy();
  }
  if (!pairs.empty()) torch::jit::EliminateDeadCode(graph);
  return static_cast<int64_t>(pairs.size());
}

}  // namespace ifx::passes
