// Small questions the pattern matchers ask of graph values: is it a constant
// with this value, which tensor is it, may the fused ops take it, does
// anything between two nodes write to it.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <vector>

namespace ifx::passes {

using torch::jit::Node;
using torch::jit::Value;

// A constant that acts as a scalar, as a double: an int/float, or a 0-dim
// float or integer tensor (what tracing and min/max spell scalars with). A
// tensor with dims is not one: it would take part in type promotion.
std::optional<double> constant_scalar(Value* v);

bool is_number(Value* v, double expected);

bool is_none(Value* v);

// The tensor a prim::Constant holds (frozen weights), if v is one.
std::optional<at::Tensor> constant_tensor(Value* v);

// True when `layer` (a conv or linear node) has a constant float weight of
// `weight_dim` dimensions in input 1 and, in input 2, none or a constant bias
// of the weight's dtype: what the fused layer ops take.
bool has_constant_weight_and_bias(Node* layer, int64_t weight_dim);

// The only user of v, if v has exactly one and it is in v's block.
Node* sole_user(Value* v);

// True when `user` is the graph's return, or a tuple / list that only the
// return takes: a value it takes is one of the model's outputs and nothing else.
bool is_model_output(Node* user);

// True when v is a tensor whose dtype and device, where the graph records
// them, are ones the fused ops take (ops/kernel_dtype.h; CPU or CUDA).
bool has_supported_type(Value* v);

// Every node of `kind` in the graph, nested blocks included, in program order.
std::vector<Node*> nodes_of_kind(const std::shared_ptr<torch::jit::Graph>& graph, c10::Symbol kind);

// True when a node strictly between `first` and `last` (same block, `first`
// before `last`) may write to the memory of any of `values`.
bool written_between(Node* first, Node* last, const std::vector<Value*>& values, torch::jit::AliasDb& alias_db);

}  // namespace ifx::passes
