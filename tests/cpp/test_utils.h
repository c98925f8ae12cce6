// Helpers shared by the pass tests: build graphs from IR, run them with the
// TorchScript interpreter, and compare an optimized graph with its original.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ifx_test {

using GraphPtr = std::shared_ptr<torch::jit::Graph>;
using TensorConstants = std::map<std::string, at::Tensor>;

// Constants every test graph may use; the passes' DCE drops the unused ones.
inline const char* const kConstants = R"IR(
  %none : NoneType = prim::Constant()
  %i0 : int = prim::Constant[value=0]()
  %i1 : int = prim::Constant[value=1]()
  %i3 : int = prim::Constant[value=3]()
  %i6 : int = prim::Constant[value=6]()
  %f0 : float = prim::Constant[value=0.]()
  %f1 : float = prim::Constant[value=1.]()
  %f3 : float = prim::Constant[value=3.]()
  %f6 : float = prim::Constant[value=6.]()
  %sixth : float = prim::Constant[value=0.16666666666666666]()
)IR";

// Parses `ir`. parseIR gives tensor constants no values (only uninitialised
// storage), so `ir` declares each one as a graph input named in
// `tensor_constants`, which is then replaced by a prim::Constant holding the
// given tensor.
inline GraphPtr parse_graph(const std::string& ir, const TensorConstants& tensor_constants = {}) {
  auto graph = std::make_shared<torch::jit::Graph>();
  std::unordered_map<std::string, torch::jit::Value*> values;
  torch::jit::parseIR(ir, graph.get(), values);
  for (const auto& [name, tensor] : tensor_constants) {
    torch::jit::Value* input = values.at(name);
    torch::jit::WithInsertPoint at_start(graph->block()->param_node()->next());
    input->replaceAllUsesWith(graph->insertConstant(tensor));
    graph->eraseInput(input->offset());
  }
  return graph;
}

// `ir` with each line stripped and indented by two spaces, so bodies can be
// assembled from pieces without minding the parser's indentation rules.
inline std::string indented(const std::string& ir) {
  std::string out;
  size_t start = 0;
  while (start < ir.size()) {
    size_t end = ir.find('\n', start);
    if (end == std::string::npos) end = ir.size();
    const std::string line = ir.substr(start, end - start);
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos) out += "  " + line.substr(first) + "\n";
    start = end + 1;
  }
  return out;
}

// A graph `graph(<signature>, <one input per tensor constant>)` whose body
// may use kConstants; `body` ends with its return statement.
inline GraphPtr chain_graph(const std::string& body, const TensorConstants& tensor_constants = {},
                            const std::string& signature = "%x : Tensor") {
  std::string inputs = signature;
  for (const auto& entry : tensor_constants) inputs += ", %" + entry.first + " : Tensor";
  return parse_graph("graph(" + inputs + "):" + kConstants + body, tensor_constants);
}

// Runs `graph` on copies of `inputs`: graphs with in-place ops may write to them.
inline std::vector<c10::IValue> run_graph(const GraphPtr& graph, const std::vector<c10::IValue>& inputs) {
  torch::jit::Code code(graph->copy(), "test_graph");
  torch::jit::InterpreterState state(code);
  torch::jit::Stack stack;
  for (const auto& input : inputs) {
    stack.emplace_back(input.isTensor() ? c10::IValue(input.toTensor().clone()) : input);
  }
  state.run(stack);
  return stack;
}

// 3 * randn covers [-6, 6] and beyond, so the inputs reach both saturated
// ends and the curved middle; an exact zero (which would hide a wrong scale)
// is replaced by one.
inline at::Tensor activation_input(at::ScalarType dtype, at::IntArrayRef sizes = {2, 3, 4, 5}) {
  at::Tensor x = at::randn(sizes, at::kDouble) * 3;
  return at::where(x == 0, at::ones_like(x), x).to(dtype);
}

// Expects `actual` to match `expected` in dtype, shape and values.
inline void expect_tensors_close(const at::Tensor& actual, const at::Tensor& expected, double tolerance) {
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type());
  ASSERT_EQ(actual.sizes(), expected.sizes());
  if (actual.numel() == 0) return;
  const double max_abs_diff = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>();
  EXPECT_TRUE(at::allclose(actual, expected, tolerance, tolerance))
      << "max abs diff " << max_abs_diff << " over tolerance " << tolerance;
}

// Runs both graphs on the same fresh random inputs, in float64 and float32,
// and, for graphs with bool inputs (prim::If conditions), with those false and
// true, and expects the same outputs. Looser float64 tolerances are for
// spellings whose 1/6 is itself a rounded float.
inline void expect_same_outputs(const GraphPtr& reference, const GraphPtr& optimized,
                                double float64_tolerance = 1e-12) {
  ASSERT_EQ(reference->inputs().size(), optimized->inputs().size());
  for (const auto& [dtype, tolerance] :
       {std::pair{at::kDouble, float64_tolerance}, std::pair{at::kFloat, 1e-5}}) {
    for (const bool flag : {false, true}) {
      std::vector<c10::IValue> inputs;
      bool has_flag = false;
      for (const torch::jit::Value* input : reference->inputs()) {
        if (input->type()->kind() == c10::TypeKind::BoolType) {
          inputs.emplace_back(flag);
          has_flag = true;
        } else {
          ASSERT_TRUE(input->type()->cast<c10::TensorType>()) << "unsupported input " << *input->type();
          inputs.emplace_back(activation_input(dtype));
        }
      }
      if (flag && !has_flag) break;  // nothing new to run
      const auto expected = run_graph(reference, inputs);
      const auto actual = run_graph(optimized, inputs);
      ASSERT_EQ(actual.size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        SCOPED_TRACE("output " + std::to_string(i) + ", dtype " + c10::toString(dtype) +
                     (has_flag ? (flag ? ", flag true" : ", flag false") : ""));
        expect_tensors_close(actual[i].toTensor(), expected[i].toTensor(), tolerance);
      }
    }
  }
}

// How many nodes of `kind` the graph has, nested blocks included.
inline int64_t count_nodes(const GraphPtr& graph, const std::string& kind) {
  GraphPtr g = graph;  // the iterator takes a mutable reference
  torch::jit::DepthFirstGraphNodeIterator it(g);
  int64_t count = 0;
  for (torch::jit::Node* node = it.next(); node != nullptr; node = it.next()) {
    count += node->kind().toQualString() == kind;
  }
  return count;
}

// The graph is `count` nodes of `fused_op` and no aten op: the whole chain
// (every aten op of these test graphs) was replaced.
inline void expect_fully_fused(const GraphPtr& graph, const std::string& fused_op, size_t count = 1) {
  torch::jit::testing::FileCheck().check_not("aten::")->run(*graph);
  torch::jit::testing::FileCheck().check_count(fused_op, count, /*exactly=*/true)->run(*graph);
}

// Runs `pass` on `graph` and expects it to report no fusion and leave the
// graph exactly as it was.
template <typename Pass>
void expect_unchanged(const GraphPtr& graph, Pass pass) {
  const std::string before = graph->toString();
  EXPECT_EQ(pass(graph), 0);
  EXPECT_EQ(graph->toString(), before);
  torch::jit::testing::FileCheck().check_not("ifx::")->run(*graph);
}

// A named graph body for parameterised tests.
struct Spelling {
  std::string name;
  std::string body;
  TensorConstants tensor_constants = {};
  std::string signature = "%x : Tensor";
  double float64_tolerance = 1e-12;

  GraphPtr graph() const { return chain_graph(body, tensor_constants, signature); }
};

// gtest prints parameters by name instead of as bytes.
inline void PrintTo(const Spelling& spelling, std::ostream* os) { *os << spelling.name; }

inline std::string spelling_name(const testing::TestParamInfo<Spelling>& info) { return info.param.name; }

// 0-dim bound constants, as max/min/maximum/minimum spell a clamp.
inline at::Tensor scalar_tensor(double value, at::ScalarType dtype = at::kDouble) {
  return at::scalar_tensor(value, at::TensorOptions().dtype(dtype));
}

// clamp(%a, 0, 6) -> %c in every spelling of docs/fusion.md.
inline std::vector<Spelling> clamp_spellings() {
  const TensorConstants bounds = {{"zero_t", scalar_tensor(0)}, {"six_t", scalar_tensor(6)}};
  const TensorConstants int_bounds = {{"zero_t", scalar_tensor(0, at::kLong)},
                                      {"six_t", scalar_tensor(6, at::kLong)}};
  return {
      {"clamp_int", "%c : Tensor = aten::clamp(%a, %i0, %i6)\n"},
      {"clamp_float", "%c : Tensor = aten::clamp(%a, %f0, %f6)\n"},
      {"hardtanh", "%c : Tensor = aten::hardtanh(%a, %f0, %f6)\n"},
      {"relu6", "%c : Tensor = aten::relu6(%a)\n"},
      {"clamp_min_then_clamp_max",
       "%l : Tensor = aten::clamp_min(%a, %i0)\n  %c : Tensor = aten::clamp_max(%l, %i6)\n"},
      {"clamp_max_then_clamp_min",
       "%u : Tensor = aten::clamp_max(%a, %f6)\n  %c : Tensor = aten::clamp_min(%u, %f0)\n"},
      {"clamp_lower_then_upper",
       "%l : Tensor = aten::clamp(%a, %i0, %none)\n  %c : Tensor = aten::clamp(%l, %none, %i6)\n"},
      {"clamp_upper_then_lower",
       "%u : Tensor = aten::clamp(%a, %none, %i6)\n  %c : Tensor = aten::clamp(%u, %i0, %none)\n"},
      {"relu_then_clamp_max", "%l : Tensor = aten::relu(%a)\n  %c : Tensor = aten::clamp_max(%l, %i6)\n"},
      {"clamp_max_then_relu", "%u : Tensor = aten::clamp_max(%a, %i6)\n  %c : Tensor = aten::relu(%u)\n"},
      {"max_then_min_other",
       "%l : Tensor = aten::max(%a, %zero_t)\n  %c : Tensor = aten::min(%l, %six_t)\n", bounds},
      {"min_then_max_other_constant_first",
       "%u : Tensor = aten::min(%six_t, %a)\n  %c : Tensor = aten::max(%zero_t, %u)\n", bounds},
      {"maximum_then_minimum",
       "%l : Tensor = aten::maximum(%a, %zero_t)\n  %c : Tensor = aten::minimum(%l, %six_t)\n", bounds},
      {"minimum_then_maximum_int_bounds",
       "%u : Tensor = aten::minimum(%a, %six_t)\n  %c : Tensor = aten::maximum(%zero_t, %u)\n", int_bounds},
  };
}

}  // namespace ifx_test
