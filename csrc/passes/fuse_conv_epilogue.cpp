#include "fuse_conv_epilogue.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <unordered_set>
#include <variant>
#include <vector>

#include "epilogue_patterns.h"
#include "pattern_utils.h"
#include "refusals.h"

namespace ifx::passes {
namespace {

// A conv and the nodes it absorbs. Values are read back from these nodes
// when the plan is applied, so earlier replacements (which may have produced
// this plan's residual) are seen. With neither an add nor an activation the
// plan is the conv and its bias alone ("conv2d+bias"): on CUDA ATen adds a
// conv's bias in a kernel of its own after cuDNN's, and the fused op puts it
// in the conv's epilogue.
struct ConvPlan {
  Node* conv = nullptr;
  Node* add = nullptr;  // the residual add, or null
  Node* activation = nullptr;
  std::string activation_name = "none";
  Node* last() const { return activation ? activation : add ? add : conv; }
  std::string pattern() const {
    if (!add && !activation) return "conv2d+bias";
    return std::string("conv2d") + (add ? "+add" : "") + (activation ? "+" + activation_name : "");
  }
};

bool has_bias(Node* conv) { return !conv->input(2)->mustBeNone(); }

using PlanOrReason = std::variant<ConvPlan, std::string>;

const char* const kConv2dSchema =
    "aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
    "int[2] dilation=1, int groups=1) -> Tensor";

// Why `conv`'s own arguments rule it out, or "" when they do not.
std::string argument_refusal(Node* conv) {
  if (!conv->matches(kConv2dSchema)) return "padding is a string ('same' or 'valid'); only int padding is fused";
  if (!constant_tensor(conv->input(1))) return "weight is not a constant (frozen parameter)";
  if (!has_constant_weight_and_bias(conv, 4)) return "weight or bias is not a constant float tensor of one dtype";
  for (size_t i = 3; i < 7; ++i) {
    if (conv->input(i)->node()->kind() != c10::prim::Constant) return "stride, padding, dilation or groups is not a constant";
  }
  if (!has_supported_type(conv->input(0))) return "its input is not a tensor of a dtype and device the fused ops take";
  return "";
}

// Why nothing after the conv's output `v` (used only by `user`, or by more) can join it.
std::string follower_refusal(Value* v, const char* what) {
  const size_t users = v->uses().size();
  if (users != 1) return "output has " + std::to_string(users) + " users; fusing would compute it twice";
  Node* user = v->uses()[0].user;
  if (is_model_output(user)) return "nothing follows it but the model's output";
  if (user->owningBlock() != v->node()->owningBlock()) return "its only user is in another block";
  if (is_add(user)) return std::string("followed by an add that is not a plain residual (alpha != 1, the same tensor ") +
                           "twice, or in place)";
  if (is_activation_with_other_constants(user)) {
    return std::string("followed by ") + user->kind().toQualString() + " with constants that are not a supported activation";
  }
  return std::string("no activation or residual add follows ") + what + ": its output goes straight to " +
         user->kind().toQualString();
}

PlanOrReason plan_fusion(Node* conv, torch::jit::AliasDb& alias_db) {
  if (std::string reason = argument_refusal(conv); !reason.empty()) return reason;
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
  if (plan.add == nullptr && plan.activation == nullptr) {
    if (has_bias(conv)) return plan;
    return follower_refusal(conv->output(), "the conv");
  }
  // The fused op reads the conv input (and residual) where the chain ends.
  std::vector<Value*> read_late = {conv->input(0)};
  if (residual != nullptr) read_late.push_back(residual);
  if (written_between(conv, plan.last(), read_late, alias_db)) {
    return std::string("its input or residual is written in place before the fused op would run");
  }
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
    PlanOrReason planned = plan_fusion(conv, alias_db);
    if (auto* reason = std::get_if<std::string>(&planned)) {
      refuse(conv, *reason);
      continue;
    }
    ConvPlan plan = std::get<ConvPlan>(planned);
    if (claimed.count(plan.last()) > 0) {
      // Another fused conv took the add that this one's output feeds (as its residual).
      if (!has_bias(conv)) {
        refuse(conv, "no activation or residual add follows the conv: its output is the residual of another fused conv2d");
        continue;
      }
      plan = ConvPlan{conv};
    }
    claimed.insert(plan.last());
    plans.push_back(plan);
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
