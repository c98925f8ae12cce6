#include "fuse_conv_epilogue.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <unordered_set>
#include <vector>

#include "epilogue_patterns.h"
#include "pattern_utils.h"

namespace ifx::passes {
namespace {

// A conv and the nodes it absorbs. Values are read back from these nodes
// when the plan is applied, so earlier replacements (which may have produced
// this plan's residual) are seen.
struct ConvPlan {
  Node* conv = nullptr;
  Node* add = nullptr;  // the residual add, or null
  Node* activation = nullptr;
  std::string activation_name = "none";
  Node* last() const { return activation ? activation : add; }
  std::string pattern() const {
    return std::string("conv2d") + (add ? "+add" : "") + (activation ? "+" + activation_name : "");
  }
};

bool is_fusable_conv(Node* conv) {
  if (!conv->matches("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, "
                     "int[2] padding=0, int[2] dilation=1, int groups=1) -> Tensor")) {
    return false;
  }
  if (!has_constant_weight_and_bias(conv, 4)) return false;
  for (size_t i = 3; i < 7; ++i) {
    if (conv->input(i)->node()->kind() != c10::prim::Constant) return false;
  }
  return has_supported_type(conv->input(0));
}

std::optional<ConvPlan> plan_fusion(Node* conv, torch::jit::AliasDb& alias_db) {
  if (!is_fusable_conv(conv)) return std::nullopt;
  ConvPlan plan{conv};
  Value* v = conv->output();
  Node* user = sole_user(v);
  Value* residual = user ? match_residual_add(user, v) : nullptr;
  if (residual != nullptr) {
    plan.add = user;
    v = user->output();
    user = sole_user(v);
  }
  if (user != nullptr && user->input(0) == v) {
    if (auto name = match_epilogue_activation(user)) {
      plan.activation = user;
      plan.activation_name = *name;
    }
  }
  if (plan.last() == nullptr) return std::nullopt;
  // The fused op reads the conv input (and residual) where the chain ends.
  std::vector<Value*> read_late = {conv->input(0)};
  if (residual != nullptr) read_late.push_back(residual);
  if (written_between(conv, plan.last(), read_late, alias_db)) return std::nullopt;
  return plan;
}

void apply(const ConvPlan& plan) {
  static const auto conv2d_act = c10::Symbol::fromQualString("ifx::conv2d_act");
  Node* last = plan.last();
  torch::jit::Graph* graph = last->owningGraph();
  torch::jit::WithInsertPoint insert_point(last);
  Value* residual = plan.add ? match_residual_add(plan.add, plan.conv->output()) : graph->insertConstant(c10::IValue());
  std::vector<Value*> inputs(plan.conv->inputs().begin(), plan.conv->inputs().end());
  inputs.push_back(residual);
  inputs.push_back(graph->insertConstant(plan.activation_name));
  Node* fused = graph->insertNode(graph->create(conv2d_act, inputs));
  fused->output()->setType(last->output()->type());
  last->output()->replaceAllUsesWith(fused->output());
}

}  // namespace

std::map<std::string, int64_t> FuseConvEpilogue(const std::shared_ptr<torch::jit::Graph>& graph) {
  const std::vector<Node*> convs = nodes_of_kind(graph, c10::aten::conv2d);
  // Plan everything against one alias analysis of the unchanged graph, then
  // rewrite: fused nodes are new to the AliasDb, and planning never visits them.
  torch::jit::AliasDb alias_db(graph);
  std::vector<ConvPlan> plans;
  std::unordered_set<Node*> claimed;  // conv1 + conv2 would otherwise be absorbed twice
  for (Node* conv : convs) {
    auto plan = plan_fusion(conv, alias_db);
    if (!plan || claimed.count(plan->last()) > 0) continue;
    claimed.insert(plan->last());
    plans.push_back(*plan);
  }
  std::map<std::string, int64_t> fused;
  for (const ConvPlan& plan : plans) {
    apply(plan);
    ++fused[plan.pattern()];
  }
  if (!plans.empty()) torch::jit::EliminateDeadCode(graph);
  return fused;
}

}  // namespace ifx::passes
