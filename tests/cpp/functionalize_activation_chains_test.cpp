// FunctionalizeActivationChains: in-place chain ops on fresh intermediates
// become functional (so the fusion passes see them); mutations that someone
// can observe, and in-place ops that cannot be part of a chain, stay.
#include "passes/functionalize_activation_chains.h"
#include "passes/fuse_hardsigmoid.h"
#include "passes/fuse_hardswish.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


// In-place hardswish chains on intermediates, as frozen hand-written models
// spell them (`F.relu6(x + 3., inplace=True)`, `out.div_(6)`, ...).
class InPlaceHardswish : public testing::TestWithParam<Spelling> {};

TEST_P(InPlaceHardswish, FunctionalizesThenFuses) {
  const GraphPtr graph = GetParam().graph();
  const GraphPtr original = graph->copy();
  EXPECT_TRUE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(FuseHardswish(graph), 1);
  expect_fully_fused(graph, "ifx::hardswish");
  expect_same_outputs(original, graph);
}

INSTANTIATE_TEST_SUITE_P(
    FunctionalizeActivationChains, InPlaceHardswish,
    testing::Values(
        Spelling{"relu6_",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %c : Tensor = aten::relu6_(%a)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n"},
        Spelling{"hardtanh_and_div_",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %c : Tensor = aten::hardtanh_(%a, %f0, %f6)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div_(%m, %i6)\n  return (%y)\n"},
        Spelling{"clamp_and_mul_",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %c : Tensor = aten::clamp_(%a, %i0, %i6)\n"
                 "  %m : Tensor = aten::mul_(%c, %x)\n  %y : Tensor = aten::div_(%m, %f6)\n  return (%y)\n"},
        Spelling{"clamp_min_max_",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %l : Tensor = aten::clamp_min_(%a, %i0)\n"
                 "  %c : Tensor = aten::clamp_max_(%l, %i6)\n  %m : Tensor = aten::mul(%x, %c)\n"
                 "  %y : Tensor = aten::mul_(%m, %sixth)\n  return (%y)\n"},
        Spelling{"clamp_bounds_one_at_a_time_",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %l : Tensor = aten::clamp_(%a, %i0, %none)\n"
                 "  %c : Tensor = aten::clamp_(%l, %none, %i6)\n  %h : Tensor = aten::div_(%c, %i6)\n"
                 "  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n"}),
    spelling_name);

// hardswish_ on an intermediate (here x * 2) becomes ifx::hardswish of it.
TEST(FunctionalizeActivationChains, InPlaceHardswishOpFuses) {
  const GraphPtr graph = chain_graph(
      "  %i2 : int = prim::Constant[value=2]()\n"
      "  %t : Tensor = aten::mul(%x, %i2)\n"
      "  %y : Tensor = aten::hardswish_(%t)\n"
      "  return (%y)\n");
  const GraphPtr original = graph->copy();
  EXPECT_TRUE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(FuseHardswish(graph), 1);
  torch::jit::testing::FileCheck().check("aten::mul")->check("ifx::hardswish(%")->run(*graph);
  torch::jit::testing::FileCheck().check_not("aten::hardswish")->run(*graph);
  expect_same_outputs(original, graph);
}

// The add_ of a hardsigmoid chain on a fresh tensor (x * 1 here) is part of
// the chain; the hardsigmoid_ on the graph input is not removable.
TEST(FunctionalizeActivationChains, InPlaceHardsigmoidFuses) {
  const GraphPtr graph = chain_graph(
      "  %t : Tensor = aten::mul(%x, %i1)\n"
      "  %a : Tensor = aten::add_(%t, %i3, %i1)\n"
      "  %c : Tensor = aten::hardtanh_(%a, %f0, %f6)\n"
      "  %y : Tensor = aten::div_(%c, %i6)\n"
      "  %s : Tensor = aten::hardsigmoid_(%x)\n"  // on the graph input: stays
      "  return (%y)\n");
  const GraphPtr original = graph->copy();
  EXPECT_TRUE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(FuseHardsigmoid(graph), 1);
  EXPECT_EQ(count_nodes(graph, "ifx::hardsigmoid"), 1);
  for (const char* in_place : {"aten::add_", "aten::hardtanh_", "aten::div_"}) {
    EXPECT_EQ(count_nodes(graph, in_place), 0) << in_place;
  }
  EXPECT_EQ(count_nodes(graph, "aten::hardsigmoid_"), 1);
  expect_same_outputs(original, graph);
}

// Other in-place ops, relu_ included (everywhere in CNNs, in no listed
// spelling), keep their memory savings.
TEST(FunctionalizeActivationChains, LeavesOtherInPlaceOps) {
  const GraphPtr graph = chain_graph(
      "  %t : Tensor = aten::mul(%x, %i1)\n"
      "  %s : Tensor = aten::sigmoid_(%t)\n"
      "  %u : Tensor = aten::mul(%x, %i3)\n"
      "  %v : Tensor = aten::relu_(%u)\n"
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %r : Tensor = aten::relu6_(%a)\n"
      "  return (%s, %v, %r)\n");
  EXPECT_TRUE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(count_nodes(graph, "aten::sigmoid_"), 1);
  EXPECT_EQ(count_nodes(graph, "aten::relu_"), 1);
  EXPECT_EQ(count_nodes(graph, "aten::relu6_"), 0);
  EXPECT_EQ(count_nodes(graph, "aten::relu6"), 1);
}

// Writes to a graph input are visible to the caller: nothing to remove.
TEST(FunctionalizeActivationChains, KeepsMutationOfGraphInput) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add_(%x, %i3, %i1)\n"
      "  %c : Tensor = aten::relu6_(%a)\n"
      "  %y : Tensor = aten::div_(%c, %i6)\n"
      "  return (%y)\n");
  const std::string before = graph->toString();
  EXPECT_FALSE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(graph->toString(), before);
  expect_unchanged(graph, [](const GraphPtr& g) { return FuseHardsigmoid(g) + FuseHardswish(g); });
}

// The intermediate is also read through a view, so its mutation is observed.
TEST(FunctionalizeActivationChains, KeepsMutationSeenThroughAlias) {
  const GraphPtr graph = chain_graph(
      "  %shape : int[] = prim::Constant[value=[-1]]()\n"
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %v : Tensor = aten::view(%a, %shape)\n"
      "  %c : Tensor = aten::relu6_(%a)\n"
      "  %m : Tensor = aten::mul(%x, %c)\n"
      "  %y : Tensor = aten::div(%m, %i6)\n"
      "  return (%y, %v)\n");
  const GraphPtr original = graph->copy();
  FunctionalizeActivationChains(graph);
  EXPECT_EQ(count_nodes(graph, "aten::relu6_"), 1);
  EXPECT_EQ(FuseHardswish(graph), 0);
  EXPECT_EQ(count_nodes(graph, "ifx::hardswish"), 0);
  expect_same_outputs(original, graph);
}

TEST(FunctionalizeActivationChains, NoInPlaceOpsNoChange) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %c : Tensor = aten::relu6(%a)\n"
      "  return (%c)\n");
  const std::string before = graph->toString();
  EXPECT_FALSE(FunctionalizeActivationChains(graph));
  EXPECT_EQ(graph->toString(), before);
}

}  // namespace
}  // namespace ifx_test
