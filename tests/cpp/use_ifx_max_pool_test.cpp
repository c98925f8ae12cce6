// UseIfxMaxPool: aten::max_pool2d becomes ifx::max_pool2d with the same
// inputs and the same values; max pools with indices stay as they are.
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {

const std::string kPoolArguments = R"IR(
  %k : int[] = prim::ListConstruct(%i3, %i3)
  %s : int[] = prim::ListConstruct(%two, %two)
  %p : int[] = prim::ListConstruct(%i1, %i1)
  %d : int[] = prim::ListConstruct(%i1, %i1)
  %ceil : bool = prim::Constant[value=1]()
)IR";

GraphPtr pool_graph(const std::string& pool_lines) {
  return chain_graph(indented("%two : int = prim::Constant[value=2]()\n" + kPoolArguments + pool_lines));
}

TEST(UseIfxMaxPool, ReplacesEveryMaxPoolWithTheSameValues) {
  const GraphPtr graph = pool_graph(
      "%y : Tensor = aten::max_pool2d(%x, %k, %s, %p, %d, %ceil)\n"
      "%z : Tensor = aten::max_pool2d(%y, %k, %s, %p, %d, %ceil)\n"
      "return (%z)");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(UseIfxMaxPool(graph), 2);
  const auto ops = ifx::passes::OpHistogram(graph);
  EXPECT_EQ(ops.count("aten::max_pool2d"), 0u);
  EXPECT_EQ(ops.at("ifx::max_pool2d"), 2);
  for (const at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    const at::Tensor x = activation_input(dtype, {2, 3, 9, 11});
    for (const at::Tensor& input : {x, x.contiguous(at::MemoryFormat::ChannelsLast)}) {
      const at::Tensor expected = run_graph(original, {input})[0].toTensor();
      const at::Tensor actual = run_graph(graph, {input})[0].toTensor();
      EXPECT_TRUE(at::equal(actual, expected));
      EXPECT_EQ(actual.strides(), expected.strides());
    }
  }
}

TEST(UseIfxMaxPool, LeavesMaxPoolsWithIndicesAlone) {
  const GraphPtr graph = pool_graph(
      "%y : Tensor, %i : Tensor = aten::max_pool2d_with_indices(%x, %k, %s, %p, %d, %ceil)\n"
      "return (%y, %i)");
  const std::string before = graph->toString();
  EXPECT_EQ(UseIfxMaxPool(graph), 0);
  EXPECT_EQ(graph->toString(), before);
}

}  // namespace
}  // namespace ifx_test
