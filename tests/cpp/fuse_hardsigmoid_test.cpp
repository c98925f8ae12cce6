// FuseHardsigmoid: every spelling of clamp(x + 3, 0, 6) / 6 becomes one
// ifx::hardsigmoid computing the same values; near-misses stay as they are.
#include "passes/fuse_hardsigmoid.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


int64_t fuse_hardsigmoid(const GraphPtr& graph) { return FuseHardsigmoid(graph); }

void expect_fuses(const Spelling& spelling) {
  const GraphPtr graph = spelling.graph();
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardsigmoid(graph), 1);
  expect_fully_fused(graph, "ifx::hardsigmoid");
  expect_same_outputs(original, graph, spelling.float64_tolerance);
}

// clamp(x + 3, 0, 6) / 6 with the clamp in each of its spellings.
class HardsigmoidClampSpelling : public testing::TestWithParam<Spelling> {};

TEST_P(HardsigmoidClampSpelling, FusesToOneOp) {
  Spelling spelling = GetParam();
  spelling.body = "  %a : Tensor = aten::add(%x, %i3, %i1)\n  " + spelling.body +
                  "  %y : Tensor = aten::div(%c, %i6)\n"
                  "  return (%y)\n";
  expect_fuses(spelling);
}

INSTANTIATE_TEST_SUITE_P(FuseHardsigmoid, HardsigmoidClampSpelling, testing::ValuesIn(clamp_spellings()),
                         spelling_name);

class HardsigmoidSpelling : public testing::TestWithParam<Spelling> {};

TEST_P(HardsigmoidSpelling, FusesToOneOp) { expect_fuses(GetParam()); }

const char* const kAddRelu6 =
    "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
    "  %c : Tensor = aten::relu6(%a)\n";

INSTANTIATE_TEST_SUITE_P(
    FuseHardsigmoid, HardsigmoidSpelling,
    testing::Values(
        Spelling{"add_float_three",
                 "  %a : Tensor = aten::add(%x, %f3, %i1)\n  %c : Tensor = aten::hardtanh(%a, %f0, %f6)\n"
                 "  %y : Tensor = aten::div(%c, %i6)\n  return (%y)\n"},
        Spelling{"div_float_six", std::string(kAddRelu6) + "  %y : Tensor = aten::div(%c, %f6)\n  return (%y)\n"},
        Spelling{"mul_sixth", std::string(kAddRelu6) + "  %y : Tensor = aten::mul(%c, %sixth)\n  return (%y)\n"},
        Spelling{"mul_sixth_float32",
                 std::string(kAddRelu6) +
                     "  %s : float = prim::Constant[value=0.1666666716337204]()\n"
                     "  %y : Tensor = aten::mul(%c, %s)\n  return (%y)\n",
                 {}, "%x : Tensor", 1e-6},
        Spelling{"traced_add_and_div",
                 "  %a : Tensor = aten::add(%three_t, %x, %i1)\n  %c : Tensor = aten::relu6(%a)\n"
                 "  %y : Tensor = aten::div(%c, %six_t)\n  return (%y)\n",
                 {{"three_t", scalar_tensor(3, at::kLong)}, {"six_t", scalar_tensor(6)}}},
        Spelling{"traced_mul_sixth",
                 "  %a : Tensor = aten::add(%x, %three_t, %i1)\n  %c : Tensor = aten::clamp(%a, %i0, %i6)\n"
                 "  %y : Tensor = aten::mul(%c, %sixth_t)\n  return (%y)\n",
                 {{"three_t", scalar_tensor(3)}, {"sixth_t", scalar_tensor(1.0 / 6)}}},
        Spelling{"aten_hardsigmoid", "  %y : Tensor = aten::hardsigmoid(%x)\n  return (%y)\n"},
        Spelling{"double_dtype_annotated",
                 "  %a : Double(4) = aten::add(%x, %i3, %i1)\n  %c : Double(4) = aten::clamp(%a, %i0, %i6)\n"
                 "  %y : Double(4) = aten::div(%c, %i6)\n  return (%y)\n",
                 {}, "%x : Double(4)"}),
    spelling_name);

class HardsigmoidNearMiss : public testing::TestWithParam<Spelling> {};

TEST_P(HardsigmoidNearMiss, StaysUnfused) { expect_unchanged(GetParam().graph(), fuse_hardsigmoid); }

INSTANTIATE_TEST_SUITE_P(
    FuseHardsigmoid, HardsigmoidNearMiss,
    testing::Values(
        Spelling{"clamp_0_5",
                 "  %i5 : int = prim::Constant[value=5]()\n  %a : Tensor = aten::add(%x, %i3, %i1)\n"
                 "  %c : Tensor = aten::clamp(%a, %i0, %i5)\n  %y : Tensor = aten::div(%c, %i6)\n  return (%y)\n"},
        Spelling{"add_two",
                 "  %i2 : int = prim::Constant[value=2]()\n  %a : Tensor = aten::add(%x, %i2, %i1)\n"
                 "  %c : Tensor = aten::relu6(%a)\n  %y : Tensor = aten::div(%c, %i6)\n  return (%y)\n"},
        Spelling{"add_alpha_two",
                 "  %i2 : int = prim::Constant[value=2]()\n  %a : Tensor = aten::add(%x, %i3, %i2)\n"
                 "  %c : Tensor = aten::relu6(%a)\n  %y : Tensor = aten::div(%c, %i6)\n  return (%y)\n"},
        Spelling{"hardtanh_minus_1_1",
                 "  %fm1 : float = prim::Constant[value=-1.]()\n  %a : Tensor = aten::add(%x, %i3, %i1)\n"
                 "  %c : Tensor = aten::hardtanh(%a, %fm1, %f1)\n  %y : Tensor = aten::div(%c, %i6)\n"
                 "  return (%y)\n"},
        Spelling{"divide_by_five", std::string(kAddRelu6) +
                                       "  %i5 : int = prim::Constant[value=5]()\n"
                                       "  %y : Tensor = aten::div(%c, %i5)\n  return (%y)\n"},
        Spelling{"mul_0_17", std::string(kAddRelu6) +
                                 "  %s : float = prim::Constant[value=0.17]()\n"
                                 "  %y : Tensor = aten::mul(%c, %s)\n  return (%y)\n"},
        Spelling{"mul_0_1667", std::string(kAddRelu6) +
                                   "  %s : float = prim::Constant[value=0.1667]()\n"
                                   "  %y : Tensor = aten::mul(%c, %s)\n  return (%y)\n"},
        Spelling{"mul_0_1666667", std::string(kAddRelu6) +
                                      "  %s : float = prim::Constant[value=0.1666667]()\n"
                                      "  %y : Tensor = aten::mul(%c, %s)\n  return (%y)\n"},
        Spelling{"six_divided_by_clamp",
                 std::string(kAddRelu6) + "  %y : Tensor = aten::div(%six_t, %c)\n  return (%y)\n",
                 {{"six_t", scalar_tensor(6)}}},
        Spelling{"one_dim_tensor_bounds",
                 "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %l : Tensor = aten::max(%a, %zero_t)\n"
                 "  %c : Tensor = aten::min(%l, %six_t)\n  %y : Tensor = aten::div(%c, %i6)\n  return (%y)\n",
                 {{"zero_t", at::zeros({1}, at::kDouble)}, {"six_t", at::full({1}, 6.0, at::kDouble)}}},
        Spelling{"add_result_also_returned",
                 std::string(kAddRelu6) + "  %y : Tensor = aten::div(%c, %i6)\n  return (%y, %a)\n"},
        Spelling{"clamp_result_also_returned",
                 std::string(kAddRelu6) + "  %y : Tensor = aten::div(%c, %i6)\n  return (%y, %c)\n"},
        Spelling{"input_mutated_later",
                 std::string(kAddRelu6) +
                     "  %y : Tensor = aten::div(%c, %i6)\n  %w : Tensor = aten::add_(%x, %i1, %i1)\n"
                     "  return (%y)\n"},
        Spelling{"hardsigmoid_in_place_on_input", "  %y : Tensor = aten::hardsigmoid_(%x)\n  return (%y)\n"},
        Spelling{"integer_input",
                 "  %a : Long(2, 3) = aten::add(%x, %i3, %i1)\n  %c : Long(2, 3) = aten::relu6(%a)\n"
                 "  %y : Float(2, 3) = aten::div(%c, %i6)\n  return (%y)\n",
                 {}, "%x : Long(2, 3)"}),
    spelling_name);

TEST(FuseHardsigmoid, AtenHardsigmoidStaysWhenNotAbsorbing) {
  const GraphPtr graph = chain_graph("  %y : Tensor = aten::hardsigmoid(%x)\n  return (%y)\n");
  expect_unchanged(graph, [](const GraphPtr& g) { return FuseHardsigmoid(g, ChainOptions{false}); });
}

// The squeeze-excitation gate: s * hardsigmoid(g) with g != s keeps its mul.
TEST(FuseHardsigmoid, FusesGateAndKeepsScale) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%g, %i3, %i1)\n"
      "  %c : Tensor = aten::relu6(%a)\n"
      "  %h : Tensor = aten::div(%c, %i6)\n"
      "  %y : Tensor = aten::mul(%x, %h)\n"
      "  return (%y)\n",
      {}, "%x : Tensor, %g : Tensor");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardsigmoid(graph), 1);
  torch::jit::testing::FileCheck()
      .check_not("aten::add")
      ->check_not("aten::relu6")
      ->check_not("aten::div")
      ->check("ifx::hardsigmoid(%g)")
      ->check("aten::mul(%x")
      ->run(*graph);
  expect_same_outputs(original, graph);
}

TEST(FuseHardsigmoid, FusesInsideIfBlocks) {
  const GraphPtr graph = chain_graph(
      "  %r : Tensor = prim::If(%cond)\n"
      "    block0():\n"
      "      %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "      %u : Tensor = aten::clamp_max(%a, %i6)\n"
      "      %c : Tensor = aten::clamp_min(%u, %i0)\n"
      "      %y : Tensor = aten::div(%c, %i6)\n"
      "      -> (%y)\n"
      "    block1():\n"
      "      %z : Tensor = aten::hardsigmoid(%x)\n"
      "      -> (%z)\n"
      "  return (%r)\n",
      {}, "%x : Tensor, %cond : bool");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardsigmoid(graph), 2);
  expect_fully_fused(graph, "ifx::hardsigmoid", 2);
  expect_same_outputs(original, graph);
}

}  // namespace
}  // namespace ifx_test
