#include "pattern_utils.h"

#include <torch/csrc/jit/ir/constants.h>

#include "ops/kernel_dtype.h"

namespace ifx::passes {

using torch::jit::toIValue;

std::optional<double> constant_scalar(Value* v) {
  const auto value = toIValue(v);
  if (!value) return std::nullopt;
  if (value->isInt() || value->isDouble()) return value->toScalar().toDouble();
  if (!value->isTensor()) return std::nullopt;
  const at::Tensor& t = value->toTensor();
  if (t.dim() != 0 || t.scalar_type() == at::kBool || t.is_complex()) return std::nullopt;
  return t.item<double>();
}

bool is_number(Value* v, double expected) {
  const auto number = constant_scalar(v);
  return number && *number == expected;
}

bool is_none(Value* v) { return v->type()->kind() == c10::TypeKind::NoneType; }

std::optional<at::Tensor> constant_tensor(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return std::nullopt;
  const auto value = toIValue(v);
  if (!value || !value->isTensor()) return std::nullopt;
  return value->toTensor();
}

bool has_constant_weight_and_bias(Node* layer, int64_t weight_dim) {
  const auto weight = constant_tensor(layer->input(1));
  const auto bias = constant_tensor(layer->input(2));
  if (!weight || weight->dim() != weight_dim || !at::isFloatingType(weight->scalar_type())) return false;
  if (!bias) return is_none(layer->input(2));
  return bias->scalar_type() == weight->scalar_type();
}

Node* sole_user(Value* v) {
  if (v->uses().size() != 1) return nullptr;
  Node* user = v->uses()[0].user;
  return user->owningBlock() == v->node()->owningBlock() ? user : nullptr;
}

bool is_model_output(Node* user) {
  if (user->kind() == c10::prim::Return) return true;
  if (user->kind() != c10::prim::TupleConstruct && user->kind() != c10::prim::ListConstruct) return false;
  const auto& uses = user->output()->uses();
  return uses.size() == 1 && uses[0].user->kind() == c10::prim::Return;
}

bool has_supported_type(Value* v) {
  const auto tensor_type = v->type()->cast<c10::TensorType>();
  if (!tensor_type) return false;
  if (const auto dtype = tensor_type->scalarType()) {
    if (!ops::is_fused_dtype(*dtype)) return false;
  }
  if (const auto device = tensor_type->device()) {
    if (!(device->is_cpu() || device->is_cuda())) return false;
  }
  return true;
}

namespace {
void collect(torch::jit::Block* block, c10::Symbol kind, std::vector<Node*>& out) {
  for (Node* n : block->nodes()) {
    if (n->kind() == kind) out.push_back(n);
    for (torch::jit::Block* sub : n->blocks()) collect(sub, kind, out);
  }
}
}  // namespace

std::vector<Node*> nodes_of_kind(const std::shared_ptr<torch::jit::Graph>& graph, c10::Symbol kind) {
  std::vector<Node*> nodes;
  collect(graph->block(), kind, nodes);
  return nodes;
}

bool written_between(Node* first, Node* last, const std::vector<Value*>& values, torch::jit::AliasDb& alias_db) {
  const torch::jit::ValueSet watched(values.begin(), values.end());
  for (Node* n = first->next(); n != last && n != first->owningBlock()->return_node(); n = n->next()) {
    if (alias_db.writesToAlias(n, watched)) return true;
  }
  return false;
}

}  // namespace ifx::passes
