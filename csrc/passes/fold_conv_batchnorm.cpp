#include "fold_conv_batchnorm.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/graph_rewrite_helper.h>

#include <string>
#include <vector>

#include "pattern_utils.h"
#include "refusals.h"

namespace ifx::passes {
namespace {

struct BatchNormConstants {
  std::optional<at::Tensor> weight, bias;  // none when affine=False
  at::Tensor mean, var;
  double eps;
};

// The batch norm's parameters if all are constants and it is in inference mode.
std::optional<BatchNormConstants> inference_batch_norm(Node* bn) {
  if (!bn->matches("aten::batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, "
                   "Tensor? running_var, bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor")) {
    return std::nullopt;
  }
  const auto training = torch::jit::constant_as<bool>(bn->input(5));
  const auto eps = torch::jit::constant_as<double>(bn->input(7));
  const auto mean = constant_tensor(bn->input(3));
  const auto var = constant_tensor(bn->input(4));
  if (!training.has_value() || *training || !eps || !mean || !var) return std::nullopt;
  BatchNormConstants c{constant_tensor(bn->input(1)), constant_tensor(bn->input(2)), *mean, *var, *eps};
  if ((!c.weight && !is_none(bn->input(1))) || (!c.bias && !is_none(bn->input(2)))) return std::nullopt;
  return c;
}

bool is_float(const at::Tensor& t) { return at::isFloatingType(t.scalar_type()); }

bool fits_conv(const BatchNormConstants& bn, const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  const int64_t channels = weight.size(0);
  std::vector<at::Tensor> all = {weight, bn.mean, bn.var};
  if (bias) all.push_back(*bias);
  if (bn.weight) all.push_back(*bn.weight);
  if (bn.bias) all.push_back(*bn.bias);
  for (const at::Tensor& t : all) {
    if (!is_float(t) || t.device() != weight.device()) return false;
    if (t.dim() == 1 && t.size(0) != channels) return false;
  }
  return bn.mean.dim() == 1 && bn.var.dim() == 1;
}

// y = (conv(x) + b - mean) * w / sqrt(var + eps) + beta, computed in double
// and rounded once to the weight's dtype.
std::pair<at::Tensor, at::Tensor> folded_weight_and_bias(const BatchNormConstants& bn, const at::Tensor& weight,
                                                         const std::optional<at::Tensor>& bias) {
  const auto dbl = [](const at::Tensor& t) { return t.to(at::kDouble); };
  at::Tensor scale = at::rsqrt(dbl(bn.var) + bn.eps);
  if (bn.weight) scale = scale * dbl(*bn.weight);
  at::Tensor shift = bias ? dbl(*bias) - dbl(bn.mean) : -dbl(bn.mean);
  shift = shift * scale;
  if (bn.bias) shift = shift + dbl(*bn.bias);
  const at::Tensor new_weight =
      (dbl(weight) * scale.reshape({-1, 1, 1, 1})).to(weight.scalar_type()).contiguous(weight.suggest_memory_format());
  return {new_weight, shift.to(weight.scalar_type())};
}

// Folds `bn` into the conv feeding it; returns why not, or "" when it did.
std::string fold_into_conv(Node* bn) {
  Node* conv = bn->input(0)->node();
  if (conv->kind() != c10::aten::conv2d) {
    return std::string("input comes from ") + conv->kind().toQualString() + ", not a conv2d";
  }
  if (conv->owningBlock() != bn->owningBlock()) return "the conv2d feeding it is in another block";
  if (conv->output()->uses().size() != 1) return "the conv's output has other users";
  const auto weight = constant_tensor(conv->input(1));
  const auto bias = constant_tensor(conv->input(2));
  if (!weight || weight->dim() != 4 || (!bias && !is_none(conv->input(2)))) {
    return "the conv's weight or bias is not a constant";
  }
  const auto constants = inference_batch_norm(bn);
  if (!constants) return "the statistics are not constants, or it runs in training mode";
  if (!fits_conv(*constants, *weight, bias)) return "its parameters do not match the conv's channels, dtype or device";

  const auto [new_weight, new_bias] = folded_weight_and_bias(*constants, *weight, bias);
  torch::jit::Graph* graph = conv->owningGraph();
  torch::jit::WithInsertPoint insert_point(conv);
  conv->replaceInput(1, graph->insertConstant(new_weight));
  conv->replaceInput(2, graph->insertConstant(new_bias));
  bn->output()->replaceAllUsesWith(conv->output());
  return "";
}

}  // namespace

int64_t FoldConvBatchNorm(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::shared_ptr<torch::jit::Graph> g = graph;
  torch::jit::graph_rewrite_helper::replaceConvolutionWithAtenConv(g);
  const std::vector<Node*> batch_norms = nodes_of_kind(graph, c10::aten::batch_norm);
  int64_t folded = 0;
  for (Node* bn : batch_norms) {
    const std::string refusal = fold_into_conv(bn);
    if (refusal.empty()) {
      ++folded;
    } else {
      refuse(bn, refusal);
    }
  }
  if (folded > 0) torch::jit::EliminateDeadCode(graph);
  return folded;
}

}  // namespace ifx::passes
