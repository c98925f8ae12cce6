// RunPipeline: functionalize, then hardswish before hardsigmoid, with counts
// per pattern; OpHistogram: aten/ifx node kinds, nested blocks included.
#include "passes/pipeline.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {

using ifx::passes::OpHistogram;
using Counts = std::map<std::string, int64_t>;

// Two spelled-out hardswish chains (one in place), an aten::hardswish, a
// squeeze-excitation style gate y * hardsigmoid(x) and an aten::hardsigmoid.
const char* const kMixedBody = R"IR(
  %a : Tensor = aten::add(%x, %i3, %i1)
  %c : Tensor = aten::relu6_(%a)
  %m : Tensor = aten::mul(%x, %c)
  %h1 : Tensor = aten::div(%m, %i6)
  %a2 : Tensor = aten::add(%h1, %f3, %i1)
  %c2 : Tensor = aten::hardtanh(%a2, %f0, %f6)
  %s2 : Tensor = aten::div(%c2, %f6)
  %h2 : Tensor = aten::mul(%h1, %s2)
  %h3 : Tensor = aten::hardswish(%h2)
  %a4 : Tensor = aten::add(%x, %i3, %i1)
  %c4 : Tensor = aten::clamp(%a4, %i0, %i6)
  %g4 : Tensor = aten::div(%c4, %i6)
  %y : Tensor = aten::mul(%h3, %g4)
  %z : Tensor = aten::hardsigmoid(%y)
  return (%z)
)IR";

TEST(RunPipeline, CountsEachPattern) {
  const GraphPtr graph = chain_graph(kMixedBody);
  const GraphPtr original = graph->copy();
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 3}, {"hardsigmoid", 2}}));
  EXPECT_EQ(OpHistogram(graph), (Counts{{"ifx::hardswish", 3}, {"ifx::hardsigmoid", 2}, {"aten::mul", 1}}));
  expect_same_outputs(original, graph);
}

TEST(RunPipeline, LeavesAtenActivationsWhenAsked) {
  const GraphPtr graph = chain_graph(kMixedBody);
  const GraphPtr original = graph->copy();
  EXPECT_EQ(RunPipeline(graph, PipelineOptions{false}), (Counts{{"hardswish", 2}, {"hardsigmoid", 1}}));
  const Counts histogram = OpHistogram(graph);
  EXPECT_EQ(histogram.at("aten::hardswish"), 1);
  EXPECT_EQ(histogram.at("aten::hardsigmoid"), 1);
  EXPECT_EQ(histogram.at("ifx::hardswish"), 2);
  EXPECT_EQ(histogram.at("ifx::hardsigmoid"), 1);
  expect_same_outputs(original, graph);
}

// Zero counts are reported too, and nothing else changes.
TEST(RunPipeline, ReportsZeroCounts) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %c : Tensor = aten::relu(%a)\n"
      "  return (%c)\n");
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 0}, {"hardsigmoid", 0}}));
  EXPECT_EQ(OpHistogram(graph), (Counts{{"aten::add", 1}, {"aten::relu", 1}}));
}

// Hardswish runs first, so x * (clamp(x + 3, 0, 6) / 6) is one hardswish,
// not x * hardsigmoid(x).
TEST(RunPipeline, HardswishAbsorbsItsHardsigmoid) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %c : Tensor = aten::relu6(%a)\n"
      "  %h : Tensor = aten::div(%c, %i6)\n"
      "  %y : Tensor = aten::mul(%h, %x)\n"
      "  return (%y)\n");
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 1}, {"hardsigmoid", 0}}));
  expect_fully_fused(graph, "ifx::hardswish");
}

// A hardsigmoid that is also returned cannot disappear into a hardswish; it
// fuses on its own and the mul stays.
TEST(RunPipeline, SharedHardsigmoidFusesAlone) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %c : Tensor = aten::relu6(%a)\n"
      "  %h : Tensor = aten::div(%c, %i6)\n"
      "  %y : Tensor = aten::mul(%x, %h)\n"
      "  return (%y, %h)\n");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 0}, {"hardsigmoid", 1}}));
  EXPECT_EQ(OpHistogram(graph), (Counts{{"ifx::hardsigmoid", 1}, {"aten::mul", 1}}));
  expect_same_outputs(original, graph);
}

// In-place spellings inside an If block go through functionalization too.
TEST(RunPipeline, FusesInPlaceChainInsideIf) {
  const GraphPtr graph = chain_graph(
      "  %r : Tensor = prim::If(%cond)\n"
      "    block0():\n"
      "      %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "      %c : Tensor = aten::hardtanh_(%a, %f0, %f6)\n"
      "      %m : Tensor = aten::mul(%c, %x)\n"
      "      %y : Tensor = aten::div_(%m, %i6)\n"
      "      -> (%y)\n"
      "    block1():\n"
      "      %z : Tensor = aten::relu(%x)\n"
      "      -> (%z)\n"
      "  return (%r)\n",
      {}, "%x : Tensor, %cond : bool");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 1}, {"hardsigmoid", 0}}));
  EXPECT_EQ(OpHistogram(graph), (Counts{{"ifx::hardswish", 1}, {"aten::relu", 1}}));
  expect_same_outputs(original, graph);
}

// In-place writes to the graph input are the caller's to see: no fusion.
TEST(RunPipeline, KeepsHardswishInPlaceOnInput) {
  const GraphPtr graph = parse_graph("graph(%x : Tensor):\n  %y : Tensor = aten::hardswish_(%x)\n  return (%y)\n");
  const std::string before = graph->toString();
  EXPECT_EQ(RunPipeline(graph), (Counts{{"hardswish", 0}, {"hardsigmoid", 0}}));
  EXPECT_EQ(graph->toString(), before);
}

// prim:: nodes are not counted; nodes in both branches (and a nested If) are.
TEST(OpHistogram, CountsNestedBlocks) {
  const GraphPtr graph = chain_graph(
      "  %r : Tensor = prim::If(%cond)\n"
      "    block0():\n"
      "      %a : Tensor = aten::relu(%x)\n"
      "      %b : Tensor = prim::If(%cond)\n"
      "        block0():\n"
      "          %c : Tensor = aten::relu(%a)\n"
      "          %d : Tensor = ifx::hardswish(%c)\n"
      "          -> (%d)\n"
      "        block1():\n"
      "          -> (%a)\n"
      "      -> (%b)\n"
      "    block1():\n"
      "      %e : Tensor = aten::relu(%x)\n"
      "      %f : Tensor = aten::mul(%e, %i6)\n"
      "      -> (%f)\n"
      "  return (%r)\n",
      {}, "%x : Tensor, %cond : bool");
  EXPECT_EQ(OpHistogram(graph), (Counts{{"aten::relu", 3}, {"aten::mul", 1}, {"ifx::hardswish", 1}}));
}

}  // namespace
}  // namespace ifx_test
