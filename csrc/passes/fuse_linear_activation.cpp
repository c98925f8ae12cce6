#include "fuse_linear_activation.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <string>
#include <vector>

#include "epilogue_patterns.h"
#include "pattern_utils.h"

namespace ifx::passes {
namespace {

struct LinearPlan {
  Node* linear;
  Node* activation;
  std::string activation_name;
};

bool is_fusable_linear(Node* linear) {
  if (!linear->matches("aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor")) return false;
  return has_constant_weight_and_bias(linear, 2) && has_supported_type(linear->input(0));
}

std::optional<LinearPlan> plan_fusion(Node* linear, torch::jit::AliasDb& alias_db) {
  if (!is_fusable_linear(linear)) return std::nullopt;
  Node* user = sole_user(linear->output());
  if (user == nullptr || user->input(0) != linear->output()) return std::nullopt;
  const auto name = match_epilogue_activation(user);
  if (!name) return std::nullopt;
  if (written_between(linear, user, {linear->input(0)}, alias_db)) return std::nullopt;
  return LinearPlan{linear, user, *name};
}

void apply(const LinearPlan& plan) {
  static const auto linear_act = c10::Symbol::fromQualString("ifx::linear_act");
  torch::jit::Graph* graph = plan.activation->owningGraph();
  torch::jit::WithInsertPoint insert_point(plan.activation);
  std::vector<Value*> inputs(plan.linear->inputs().begin(), plan.linear->inputs().end());
  inputs.push_back(graph->insertConstant(plan.activation_name));
  Node* fused = graph->insertNode(graph->create(linear_act, inputs));
  fused->output()->setType(plan.activation->output()->type());
  plan.activation->output()->replaceAllUsesWith(fused->output());
}

}  // namespace

std::map<std::string, int64_t> FuseLinearActivation(const std::shared_ptr<torch::jit::Graph>& graph) {
  const std::vector<Node*> linears = nodes_of_kind(graph, c10::aten::linear);
  torch::jit::AliasDb alias_db(graph);  // planned on the unchanged graph, as in fuse_conv_epilogue
  std::vector<LinearPlan> plans;
  for (Node* linear : linears) {
    if (auto plan = plan_fusion(linear, alias_db)) plans.push_back(*plan);
  }
  std::map<std::string, int64_t> fused;
  for (const LinearPlan& plan : plans) {
    apply(plan);
    ++fused["linear+" + plan.activation_name];
  }
  if (!plans.empty()) torch::jit::EliminateDeadCode(graph);
  return fused;
}

}  // namespace ifx::passes
