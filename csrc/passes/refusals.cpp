#include "refusals.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include <cstdio>
#include <cstring>

namespace ifx::passes {
namespace {

const c10::Symbol kReason = c10::Symbol::attr("ifx_unfused_reason");

thread_local bool recording = false;

}  // namespace

RecordRefusals::RecordRefusals() : was_recording_(recording) { recording = true; }
RecordRefusals::~RecordRefusals() { recording = was_recording_; }

void refuse(torch::jit::Node* node, const std::string& reason) {
  if (recording) node->s_(kReason, reason);
}

std::vector<Refusal> TakeRefusals(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::vector<Refusal> refusals;
  std::shared_ptr<torch::jit::Graph> graph_copy = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(graph_copy);
  for (torch::jit::Node* node = it.next(); node != nullptr; node = it.next()) {
    if (!node->hasAttribute(kReason)) continue;
    refusals.push_back({node->kind().toQualString(), node->s(kReason)});
    node->removeAttribute(kReason);
  }
  return refusals;
}

std::string describe_number(torch::jit::Value* v) {
  const auto value = torch::jit::toIValue(v);
  if (!value) return "?";
  if (value->isNone()) return "None";
  if (value->isInt()) return std::to_string(value->toInt());
  double number = 0;
  if (value->isDouble()) {
    number = value->toDouble();
  } else if (value->isTensor() && value->toTensor().dim() == 0 && !value->toTensor().is_complex()) {
    const at::Tensor& t = value->toTensor();
    if (!at::isFloatingType(t.scalar_type())) return std::to_string(t.item<int64_t>());
    number = t.item<double>();
  } else {
    return "?";
  }
  // No iostreams (see api/optimize.cpp); %.12g and a ".0" for whole numbers, as Python prints floats.
  char text[64];
  std::snprintf(text, sizeof(text), "%.12g", number);
  std::string out = text;
  if (out.find_first_of(".eni") == std::string::npos) out += ".0";
  return out;
}

}  // namespace ifx::passes
