#include "fuse_linear_activation.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <string>
#include <variant>
#include <vector>

#include "epilogue_patterns.h"
#include "pattern_utils.h"
#include "refusals.h"

namespace ifx::passes {
namespace {

struct LinearPlan {
  Node* linear;
  Node* activation;
  std::string activation_name;
};

using PlanOrReason = std::variant<LinearPlan, std::string>;

PlanOrReason plan_fusion(Node* linear, torch::jit::AliasDb& alias_db) {
  if (!constant_tensor(linear->input(1))) return std::string("weight is not a constant (frozen parameter)");
  if (!has_constant_weight_and_bias(linear, 2)) {
    return std::string("weight or bias is not a constant float tensor of one dtype");
  }
  if (!has_supported_type(linear->input(0))) {
    return std::string("its input is not a tensor of a dtype and device the fused ops take");
  }
  Value* out = linear->output();
  const size_t users = out->uses().size();
  if (users != 1) return "output has " + std::to_string(users) + " users; fusing would compute it twice";
  Node* user = out->uses()[0].user;
  if (is_model_output(user)) return std::string("nothing follows it but the model's output");
  const auto name = user->owningBlock() == linear->owningBlock() && user->input(0) == out
                        ? match_epilogue_activation(user)
                        : std::nullopt;
  if (!name) {
    if (is_add(user)) return std::string("followed by an add: linear + add is not fused, only linear + activation");
    if (is_activation_with_other_constants(user)) {
      return std::string("followed by ") + user->kind().toQualString() +
             " with constants that are not a supported activation";
    }
    return std::string("no activation follows the linear: its output goes straight to ") + user->kind().toQualString();
  }
  if (written_between(linear, user, {linear->input(0)}, alias_db)) {
    return std::string("its input is written in place before the fused op would run");
  }
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
    PlanOrReason planned = plan_fusion(linear, alias_db);
    if (auto* reason = std::get_if<std::string>(&planned)) {
      refuse(linear, *reason);
    } else {
      plans.push_back(std::get<LinearPlan>(planned));
    }
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
