// Why a fusion pass left a candidate node alone. Each pass calls refuse() on
// the candidates it turns down; while a RecordRefusals is alive on the thread
// (RunPipeline keeps one), the reason rides on the node as an attribute, so it
// leaves the graph with a node that a later pass fuses or removes, and a later
// pass's reason replaces an earlier one. TakeRefusals collects what is left
// and clears the attributes. A pass run on its own records nothing.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

namespace ifx::passes {

struct Refusal {
  std::string op;      // the node's kind, e.g. "aten::conv2d"
  std::string reason;  // e.g. "output has 2 users; fusing would compute it twice"
  bool operator==(const Refusal& other) const { return op == other.op && reason == other.reason; }
};

// refuse() records while one of these is alive on the calling thread.
class RecordRefusals {
 public:
  RecordRefusals();
  ~RecordRefusals();
  RecordRefusals(const RecordRefusals&) = delete;
  RecordRefusals& operator=(const RecordRefusals&) = delete;

 private:
  bool was_recording_;
};

void refuse(torch::jit::Node* node, const std::string& reason);

// The reasons on the graph's nodes (nested blocks included), in program order;
// the nodes are left without them.
std::vector<Refusal> TakeRefusals(const std::shared_ptr<torch::jit::Graph>& graph);

// A constant as a message shows it: ints as ints, floats as Python prints them
// (2.0, 0.1), anything else as "?".
std::string describe_number(torch::jit::Value* v);

}  // namespace ifx::passes
