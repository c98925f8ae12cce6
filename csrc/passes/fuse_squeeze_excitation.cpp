#include "fuse_squeeze_excitation.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "pattern_utils.h"
#include "refusals.h"

namespace ifx::passes {
namespace {

const c10::Symbol kConv2dAct = c10::Symbol::fromQualString("ifx::conv2d_act");
const c10::Symbol kLinearAct = c10::Symbol::fromQualString("ifx::linear_act");
const c10::Symbol kSqueezeExcite = c10::Symbol::fromQualString("ifx::squeeze_excite");

// One squeeze-and-excitation block as found: its nodes, and the first thing
// that keeps it from being fused ("" when nothing does).
struct Block {
  Node* pool = nullptr;
  Node* fc1 = nullptr;  // ifx::conv2d_act (1x1) or ifx::linear_act
  Node* fc2 = nullptr;
  Node* mul = nullptr;  // x * gate
  std::string problem;

  void note(const std::string& what) {
    if (problem.empty()) problem = what;
  }
};

bool is_int_list(Value* v, std::vector<int64_t> expected_any_order) {
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isIntList()) return false;
  std::vector<int64_t> got = value->toIntVector();
  std::sort(got.begin(), got.end());
  std::sort(expected_any_order.begin(), expected_any_order.end());
  return got == expected_any_order;
}

// The pool a block starts with: a global average pool of x (nodes that pool
// otherwise still start a block, with the reason they are not fused).
bool is_pool(Node* n) {
  return n->kind() == c10::aten::adaptive_avg_pool2d || n->kind() == c10::aten::mean ||
         n->kind() == c10::aten::adaptive_max_pool2d || n->kind() == c10::aten::amax;
}

void check_pool(Node* pool, Block& block) {
  if (pool->kind() == c10::aten::adaptive_max_pool2d || pool->kind() == c10::aten::amax) {
    block.note("max pooling: a squeeze-and-excitation block averages");
  } else if (pool->kind() == c10::aten::adaptive_avg_pool2d) {
    if (!is_int_list(pool->input(1), {1, 1}) && !is_int_list(pool->input(1), {1})) {
      block.note("the pool keeps a map larger than 1x1");
    }
  } else if (!pool->matches("aten::mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) "
                            "-> Tensor") ||
             !(is_int_list(pool->input(1), {2, 3}) || is_int_list(pool->input(1), {-2, -1})) ||
             !torch::jit::constant_as<bool>(pool->input(2)).value_or(false) || !is_none(pool->input(3))) {
    block.note("the mean is not over H and W with keepdim and the input's dtype");
  }
}

// The user of `v` of `kind` (the block's next node), noting when `v` has
// other users too.
Node* next(Value* v, const std::vector<c10::Symbol>& kinds, const char* what, Block& block) {
  Node* found = nullptr;
  for (const auto& use : v->uses()) {
    if (std::find(kinds.begin(), kinds.end(), use.user->kind()) != kinds.end() && found == nullptr) {
      found = use.user;
    }
  }
  if (found != nullptr && v->uses().size() > 1) block.note(std::string(what) + " has other users");
  if (found != nullptr && found->owningBlock() != v->node()->owningBlock()) block.note("the block spans blocks");
  return found;
}

// A view or reshape of `v` to 2-D or to [a, b, 1, 1], or a flatten from dim 1.
bool is_reshape(Node* n, bool to_4d) {
  if (n->kind() == c10::aten::flatten) return !to_4d && is_number(n->input(1), 1) && is_number(n->input(2), -1);
  if (n->kind() != c10::aten::view && n->kind() != c10::aten::reshape) return false;
  Node* sizes = n->input(1)->node();
  if (sizes->kind() == c10::prim::ListConstruct) {
    if (!to_4d) return sizes->inputs().size() == 2;
    return sizes->inputs().size() == 4 && is_number(sizes->input(2), 1) && is_number(sizes->input(3), 1);
  }
  const auto constant = torch::jit::toIValue(n->input(1));
  if (!constant || !constant->isIntList()) return false;
  const auto list = constant->toIntVector();
  return to_4d ? list.size() == 4 && list[2] == 1 && list[3] == 1 : list.size() == 2;
}

// A 1x1 conv2d_act that can be one of the block's fc layers: no padding (the
// map stays 1x1), one group, no residual.
void check_fc(Node* fc, Block& block) {
  if (fc->kind() != kConv2dAct) return;
  const auto weight = constant_tensor(fc->input(1));
  if (!weight || weight->dim() != 4 || weight->size(2) != 1 || weight->size(3) != 1 || !is_int_list(fc->input(4), {0, 0}) ||
      !is_number(fc->input(6), 1) || !is_none(fc->input(7))) {
    block.note("its layers are not 1x1 convolutions without padding, groups or residual");
  }
}

std::string activation_of(Node* fc) {
  const auto name = torch::jit::toIValue(fc->inputs().back());
  return name && name->isString() ? name->toStringRef() : "";
}

// The block starting at `pool`, if x * gate(...) closes it; nullopt when the
// pool feeds something else (a classifier's pool, say).
std::optional<Block> find_block(Node* pool, torch::jit::AliasDb& alias_db) {
  Block block;
  block.pool = pool;
  Value* x = pool->input(0);
  Value* v = pool->output(0);
  // conv form: pool -> 1x1 conv -> 1x1 conv -> mul; linear form: pool ->
  // 2-D view -> linear -> linear -> 4-D view -> mul.
  Node* fc1 = next(v, {kConv2dAct}, "the pooled tensor", block);
  Node* reshape = nullptr;
  if (fc1 == nullptr) {
    reshape = next(v, {c10::aten::flatten, c10::aten::view, c10::aten::reshape}, "the pooled tensor", block);
    if (reshape == nullptr || !is_reshape(reshape, false)) return std::nullopt;
    fc1 = next(reshape->output(), {kLinearAct}, "the flattened pool", block);
  }
  if (fc1 == nullptr || fc1->input(0)->node() != (reshape ? reshape : pool)) return std::nullopt;
  Node* fc2 = next(fc1->output(), {fc1->kind()}, "the hidden layer", block);
  if (fc2 == nullptr || fc2->input(0) != fc1->output()) return std::nullopt;
  Value* gate = fc2->output();
  if (reshape != nullptr) {
    Node* back = next(gate, {c10::aten::view, c10::aten::reshape}, "the gate", block);
    if (back == nullptr || back->input(0) != gate || !is_reshape(back, true)) return std::nullopt;
    gate = back->output();
  }
  Node* mul = next(gate, {c10::aten::mul}, "the gate", block);
  if (mul == nullptr || !mul->matches("aten::mul.Tensor(Tensor self, Tensor other) -> Tensor")) return std::nullopt;
  if (!((mul->input(0) == x && mul->input(1) == gate) || (mul->input(1) == x && mul->input(0) == gate))) {
    return std::nullopt;
  }
  block.fc1 = fc1;
  block.fc2 = fc2;
  block.mul = mul;
  check_pool(pool, block);
  check_fc(fc1, block);
  check_fc(fc2, block);
  const std::string gate_name = activation_of(fc2);
  if (gate_name != "hardsigmoid" && gate_name != "sigmoid") {
    block.note("the gate applies " + gate_name + ", not sigmoid or hardsigmoid");
  }
  if (!has_supported_type(x)) block.note("its input is not a tensor of a dtype and device the fused ops take");
  if (written_between(pool, mul, {x}, alias_db)) block.note("x is written in place between the pool and the scale");
  return block;
}

// An fc layer's weight as the fused op takes it: [out, in].
Value* weight_2d(Node* fc, torch::jit::Graph* graph) {
  const at::Tensor weight = *constant_tensor(fc->input(1));
  return graph->insertConstant(weight.reshape({weight.size(0), weight.size(1)}).contiguous());
}

void apply(const Block& block) {
  torch::jit::Graph* graph = block.mul->owningGraph();
  torch::jit::WithInsertPoint insert_point(block.mul);
  const std::vector<Value*> inputs = {block.pool->input(0), weight_2d(block.fc1, graph), block.fc1->input(2),
                                      block.fc1->inputs().back(), weight_2d(block.fc2, graph), block.fc2->input(2),
                                      block.fc2->inputs().back()};
  Node* fused = graph->insertNode(graph->create(kSqueezeExcite, inputs));
  fused->output()->setType(block.mul->output()->type());
  block.mul->output()->replaceAllUsesWith(fused->output());
}

}  // namespace

int64_t FuseSqueezeExcitation(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<Node*> pools;
  for (const c10::Symbol kind : {c10::aten::adaptive_avg_pool2d, c10::aten::mean, c10::aten::adaptive_max_pool2d,
                                 c10::aten::amax}) {
    const auto found = nodes_of_kind(graph, kind);
    pools.insert(pools.end(), found.begin(), found.end());
  }
  torch::jit::AliasDb alias_db(graph);  // planned on the unchanged graph, as the other fusions
  std::vector<Block> blocks;
  for (Node* pool : pools) {
    if (!is_pool(pool)) continue;
    auto block = find_block(pool, alias_db);
    if (!block) continue;
    if (block->problem.empty()) {
      blocks.push_back(*block);
    } else {
      refuse(pool, block->problem);
    }
  }
  for (const Block& block : blocks) apply(block);
  if (!blocks.empty()) torch::jit::EliminateDeadCode(graph);
  return static_cast<int64_t>(blocks.size());
}

}  // namespace ifx::passes
