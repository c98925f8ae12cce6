#include "channels_last_convs.h"

#include <ATen/ATen.h>

#include <utility>
#include <vector>

#include "pattern_utils.h"

namespace ifx::passes {
namespace {

using Layout = ifx_torch::OptimizeOptions::Layout;

bool should_convert(const at::Tensor& weight, bool fused, Layout layout, bool tf32_allowed) {
  if (weight.dim() != 4 || !at::isFloatingType(weight.scalar_type())) return false;
  if (weight.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  if (layout == Layout::kChannelsLast) return true;
  if (layout == Layout::kKeep) return false;
  const auto type = weight.scalar_type();
  if (weight.is_cpu()) {  // oneDNN runs fp32 convs NHWC without reorders (docs/benchmarks.md, CPU);
    // only fused convs, so that a model with nothing fused stays free of ifx ops
    return fused && type == at::kFloat && at::hasMKLDNN() && at::globalContext().userEnabledMkldnn();
  }
  if (!weight.is_cuda()) return false;
  return type == at::kHalf || type == at::kBFloat16 || (type == at::kFloat && tf32_allowed);
}

// ifx::like_layout(out, like) around each tensor the graph returns (also in
// a returned tuple or list).
void keep_output_layouts(const std::shared_ptr<torch::jit::Graph>& graph) {
  static const auto like_layout = c10::Symbol::fromQualString("ifx::like_layout");
  Value* like = nullptr;
  for (Value* input : graph->inputs()) {
    if (input->type()->cast<c10::TensorType>()) {
      like = input;
      break;
    }
  }
  if (like == nullptr) return;
  Node* ret = graph->return_node();
  std::vector<std::pair<Node*, size_t>> slots;
  for (size_t i = 0; i < ret->inputs().size(); ++i) {
    Value* out = ret->input(i);
    Node* producer = out->node();
    if (producer->kind() == c10::prim::TupleConstruct || producer->kind() == c10::prim::ListConstruct) {
      for (size_t j = 0; j < producer->inputs().size(); ++j) slots.emplace_back(producer, j);
    } else {
      slots.emplace_back(ret, i);
    }
  }
  for (const auto& [user, index] : slots) {
    Value* out = user->input(index);
    if (!out->type()->cast<c10::TensorType>() || out == like) continue;
    torch::jit::WithInsertPoint insert_point(user);
    Node* wrap = graph->insertNode(graph->create(like_layout, {out, like}));
    wrap->output()->setType(out->type());
    user->replaceInput(index, wrap->output());
  }
}

// aten::view(self, size) nodes: the ones that merge dimensions need the
// strides their input had in eager, which an NHWC conv output lacks.
std::vector<Node*> shape_views(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<Node*> views;
  for (Node* node : nodes_of_kind(graph, c10::aten::view)) {
    if (node->matches("aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)")) views.push_back(node);
  }
  return views;
}

// Each view as aten::reshape, which is the same view wherever the strides
// allow one and else a copy of the same values (where view would fail).
void views_as_reshapes(const std::vector<Node*>& views) {
  for (Node* view : views) {
    auto graph = view->owningGraph();
    torch::jit::WithInsertPoint insert_point(view);
    Node* reshape = graph->insertNode(graph->create(c10::aten::reshape, {view->input(0), view->input(1)}));
    reshape->output()->setType(view->output()->type());
    view->output()->replaceAllUsesWith(reshape->output());
    view->destroy();
  }
}

}  // namespace

int64_t UseChannelsLastConvs(const std::shared_ptr<torch::jit::Graph>& graph, Layout layout, bool tf32_allowed) {
  static const auto conv2d_act = c10::Symbol::fromQualString("ifx::conv2d_act");
  std::vector<std::pair<Node*, at::Tensor>> to_convert;  // each conv and its weight
  for (const c10::Symbol kind : {conv2d_act, c10::aten::conv2d}) {
    for (Node* conv : nodes_of_kind(graph, kind)) {
      const auto weight = constant_tensor(conv->input(1));
      if (weight && should_convert(*weight, kind == conv2d_act, layout, tf32_allowed)) {
        to_convert.emplace_back(conv, *weight);
      }
    }
  }
  if (to_convert.empty()) return 0;
  // A view that shares memory something writes to cannot become a copy
  // without changing what the model computes: then nothing is converted.
  const std::vector<Node*> views = shape_views(graph);
  {
    torch::jit::AliasDb alias_db(graph);
    for (Node* view : views) {
      if (alias_db.hasWriters(view->input(0)) || alias_db.hasWriters(view->output())) return 0;
    }
  }
  for (const auto& [conv, weight] : to_convert) {
    torch::jit::WithInsertPoint insert_point(conv);
    conv->replaceInput(1, graph->insertConstant(weight.contiguous(at::MemoryFormat::ChannelsLast)));
  }
  keep_output_layouts(graph);
  views_as_reshapes(views);
  return static_cast<int64_t>(to_convert.size());
}

}  // namespace ifx::passes
