// MarkOpLibrary: a graph that calls ifx:: ops starts with one
// ifx::needs_op_library call that says how to load the library; other graphs
// are left alone, and a second run adds nothing.
#include "passes/mark_op_library.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


TEST(MarkOpLibrary, MarksAGraphWithIfxOpsOnceAndKeepsItsOutputs) {
  const GraphPtr graph = chain_graph(indented("%y : Tensor = ifx::hardswish(%x)\nreturn (%y)"));
  const GraphPtr original = graph->copy();
  EXPECT_TRUE(MarkOpLibrary(graph));
  EXPECT_FALSE(MarkOpLibrary(graph));
  ASSERT_EQ(count_nodes(graph, "ifx::needs_op_library"), 1);
  // At the start: only its string constant comes before it.
  const torch::jit::Node* marker = graph->block()->nodes().front()->next();
  ASSERT_EQ(marker->kind().toQualString(), std::string("ifx::needs_op_library"));
  const std::string how_to_load = torch::jit::toIValue(marker->input(0))->toStringRef();
  EXPECT_EQ(how_to_load, ifx::passes::kHowToLoadOpLibrary);
  EXPECT_NE(how_to_load.find("import ifx_torch"), std::string::npos);
  EXPECT_NE(how_to_load.find("libifx_torch.so"), std::string::npos);
  const std::vector<c10::IValue> inputs = {activation_input(at::kDouble)};
  expect_tensors_close(run_graph(graph, inputs)[0].toTensor(), run_graph(original, inputs)[0].toTensor(), 0);
}

TEST(MarkOpLibrary, LeavesAGraphWithoutIfxOpsAlone) {
  const GraphPtr graph = chain_graph(indented("%y : Tensor = aten::relu(%x)\nreturn (%y)"));
  EXPECT_FALSE(MarkOpLibrary(graph));
  EXPECT_EQ(count_nodes(graph, "ifx::needs_op_library"), 0);
}

}  // namespace
}  // namespace ifx_test
