// FuseHardswish: every spelling of docs/fusion.md becomes one ifx::hardswish
// computing the same values; near-misses stay as they are.
#include "passes/fuse_hardsigmoid.h"
#include "passes/fuse_hardswish.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


int64_t fuse_hardswish(const GraphPtr& graph) { return FuseHardswish(graph); }

// Checks that `spelling` fuses into one ifx::hardswish with unchanged outputs.
void expect_fuses(const Spelling& spelling) {
  const GraphPtr graph = spelling.graph();
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardswish(graph), 1);
  expect_fully_fused(graph, "ifx::hardswish");
  expect_same_outputs(original, graph, spelling.float64_tolerance);
}

// x * clamp(x + 3, 0, 6) / 6 with the clamp in each of its spellings.
class HardswishClampSpelling : public testing::TestWithParam<Spelling> {};

TEST_P(HardswishClampSpelling, FusesToOneOp) {
  Spelling spelling = GetParam();
  spelling.body = "  %a : Tensor = aten::add(%x, %i3, %i1)\n  " + spelling.body +
                  "  %m : Tensor = aten::mul(%x, %c)\n"
                  "  %y : Tensor = aten::div(%m, %i6)\n"
                  "  return (%y)\n";
  expect_fuses(spelling);
}

INSTANTIATE_TEST_SUITE_P(FuseHardswish, HardswishClampSpelling, testing::ValuesIn(clamp_spellings()),
                         spelling_name);

// The other freedoms (add, operand order, where and how the /6 is written),
// each around a relu6 or clamp.
class HardswishSpelling : public testing::TestWithParam<Spelling> {};

TEST_P(HardswishSpelling, FusesToOneOp) { expect_fuses(GetParam()); }

const char* const kAddRelu6 =
    "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
    "  %c : Tensor = aten::relu6(%a)\n";

INSTANTIATE_TEST_SUITE_P(
    FuseHardswish, HardswishSpelling,
    testing::Values(
        Spelling{"add_float_three",
                 "  %a : Tensor = aten::add(%x, %f3, %i1)\n  %c : Tensor = aten::relu6(%a)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n"},
        Spelling{"add_float_alpha",
                 "  %a : Tensor = aten::add(%x, %i3, %f1)\n  %c : Tensor = aten::clamp(%a, %i0, %i6)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n"},
        Spelling{"mul_commuted", std::string(kAddRelu6) +
                                     "  %m : Tensor = aten::mul(%c, %x)\n"
                                     "  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n"},
        Spelling{"div_float_six", std::string(kAddRelu6) +
                                      "  %m : Tensor = aten::mul(%x, %c)\n"
                                      "  %y : Tensor = aten::div(%m, %f6)\n  return (%y)\n"},
        Spelling{"mul_sixth_after", std::string(kAddRelu6) +
                                        "  %m : Tensor = aten::mul(%x, %c)\n"
                                        "  %y : Tensor = aten::mul(%m, %sixth)\n  return (%y)\n"},
        // The float32 nearest to 1/6, as a float32 model stores it.
        Spelling{"mul_sixth_float32",
                 std::string(kAddRelu6) +
                     "  %s : float = prim::Constant[value=0.1666666716337204]()\n"
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::mul(%m, %s)\n  return (%y)\n",
                 {}, "%x : Tensor", 1e-6},
        Spelling{"sixth_on_clamp", std::string(kAddRelu6) +
                                       "  %h : Tensor = aten::div(%c, %i6)\n"
                                       "  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n"},
        Spelling{"sixth_on_clamp_commuted", std::string(kAddRelu6) +
                                                "  %h : Tensor = aten::div(%c, %i6)\n"
                                                "  %y : Tensor = aten::mul(%h, %x)\n  return (%y)\n"},
        Spelling{"sixth_on_clamp_as_mul", std::string(kAddRelu6) +
                                              "  %h : Tensor = aten::mul(%c, %sixth)\n"
                                              "  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n"},
        Spelling{"sixth_on_x", std::string(kAddRelu6) +
                                   "  %s : Tensor = aten::div(%x, %i6)\n"
                                   "  %y : Tensor = aten::mul(%s, %c)\n  return (%y)\n"},
        Spelling{"sixth_on_x_commuted", std::string(kAddRelu6) +
                                            "  %s : Tensor = aten::div(%x, %f6)\n"
                                            "  %y : Tensor = aten::mul(%c, %s)\n  return (%y)\n"},
        Spelling{"sixth_on_x_as_mul", std::string(kAddRelu6) +
                                          "  %s : Tensor = aten::mul(%x, %sixth)\n"
                                          "  %y : Tensor = aten::mul(%s, %c)\n  return (%y)\n"},
        Spelling{"x_times_aten_hardsigmoid",
                 "  %h : Tensor = aten::hardsigmoid(%x)\n  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n"},
        Spelling{"aten_hardsigmoid_times_x",
                 "  %h : Tensor = aten::hardsigmoid(%x)\n  %y : Tensor = aten::mul(%h, %x)\n  return (%y)\n"},
        Spelling{"x_times_ifx_hardsigmoid",
                 "  %h : Tensor = ifx::hardsigmoid(%x)\n  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n"},
        Spelling{"aten_hardswish", "  %y : Tensor = aten::hardswish(%x)\n  return (%y)\n"},
        // Tracing spells the scalars as 0-dim tensor constants (tensor-tensor overloads).
        Spelling{"traced_add_and_div",
                 "  %a : Tensor = aten::add(%x, %three_t, %i1)\n  %c : Tensor = aten::clamp(%a, %i0, %i6)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %six_t)\n  return (%y)\n",
                 {{"three_t", scalar_tensor(3, at::kLong)}, {"six_t", scalar_tensor(6, at::kLong)}}},
        Spelling{"traced_three_plus_x_and_mul_sixth",
                 "  %a : Tensor = aten::add(%three_t, %x, %i1)\n  %c : Tensor = aten::hardtanh(%a, %f0, %f6)\n"
                 "  %m : Tensor = aten::mul(%c, %x)\n  %y : Tensor = aten::mul(%sixth_t, %m)\n  return (%y)\n",
                 {{"three_t", scalar_tensor(3)}, {"sixth_t", scalar_tensor(1.0 / 6, at::kFloat)}},
                 "%x : Tensor",
                 1e-6},
        Spelling{"float_dtype_annotated",
                 "  %a : Float(2, 3, 4, 5) = aten::add(%x, %i3, %i1)\n  %c : Float(2, 3, 4, 5) = aten::relu6(%a)\n"
                 "  %m : Float(2, 3, 4, 5) = aten::mul(%x, %c)\n  %y : Float(2, 3, 4, 5) = aten::div(%m, %i6)\n"
                 "  return (%y)\n",
                 {}, "%x : Float(2, 3, 4, 5)"}),
    spelling_name);

// Each of these differs from hardswish in one detail and must stay unfused.
class HardswishNearMiss : public testing::TestWithParam<Spelling> {};

TEST_P(HardswishNearMiss, StaysUnfused) { expect_unchanged(GetParam().graph(), fuse_hardswish); }

// x * <clamp body> / 6, where the clamp body maps %x to %c.
Spelling near_miss(const std::string& name, const std::string& clamp_body, TensorConstants constants = {}) {
  return {name,
          clamp_body + "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n",
          std::move(constants)};
}

INSTANTIATE_TEST_SUITE_P(
    FuseHardswish, HardswishNearMiss,
    testing::Values(
        near_miss("clamp_0_5",
                  "  %i5 : int = prim::Constant[value=5]()\n  %a : Tensor = aten::add(%x, %i3, %i1)\n"
                  "  %c : Tensor = aten::clamp(%a, %i0, %i5)\n"),
        near_miss("add_two",
                  "  %i2 : int = prim::Constant[value=2]()\n  %a : Tensor = aten::add(%x, %i2, %i1)\n"
                  "  %c : Tensor = aten::relu6(%a)\n"),
        near_miss("add_alpha_two",
                  "  %i2 : int = prim::Constant[value=2]()\n  %a : Tensor = aten::add(%x, %i3, %i2)\n"
                  "  %c : Tensor = aten::relu6(%a)\n"),
        near_miss("hardtanh_minus_1_1",
                  "  %fm1 : float = prim::Constant[value=-1.]()\n  %a : Tensor = aten::add(%x, %i3, %i1)\n"
                  "  %c : Tensor = aten::hardtanh(%a, %fm1, %f1)\n"),
        near_miss("clamp_lower_bound_only",
                  "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %c : Tensor = aten::clamp(%a, %i0, %none)\n"),
        // A 1-dim bound takes part in type promotion and broadcasting; only 0-dim bounds are a clamp.
        near_miss("one_dim_tensor_bounds",
                  "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %l : Tensor = aten::maximum(%a, %zero_t)\n"
                  "  %c : Tensor = aten::minimum(%l, %six_t)\n",
                  {{"zero_t", at::zeros({1}, at::kDouble)}, {"six_t", at::full({1}, 6.0, at::kDouble)}}),
        near_miss("tensor_bounds_0_5",
                  "  %a : Tensor = aten::add(%x, %i3, %i1)\n  %l : Tensor = aten::maximum(%a, %zero_t)\n"
                  "  %c : Tensor = aten::minimum(%l, %five_t)\n",
                  {{"zero_t", scalar_tensor(0)}, {"five_t", scalar_tensor(5)}}),
        Spelling{"divide_by_five",
                 std::string(kAddRelu6) +
                     "  %i5 : int = prim::Constant[value=5]()\n  %m : Tensor = aten::mul(%x, %c)\n"
                     "  %y : Tensor = aten::div(%m, %i5)\n  return (%y)\n"},
        Spelling{"mul_0_17",
                 std::string(kAddRelu6) +
                     "  %s : float = prim::Constant[value=0.17]()\n  %m : Tensor = aten::mul(%x, %c)\n"
                     "  %y : Tensor = aten::mul(%m, %s)\n  return (%y)\n"},
        // 0.1667 is 1/6 to four digits only: 2e-5 off, far beyond float32 rounding.
        Spelling{"mul_0_1667",
                 std::string(kAddRelu6) +
                     "  %s : float = prim::Constant[value=0.1667]()\n  %m : Tensor = aten::mul(%x, %c)\n"
                     "  %y : Tensor = aten::mul(%m, %s)\n  return (%y)\n"},
        // 0.1666667 is 1/6 only to float32 precision: 2e-7 off in float64.
        Spelling{"mul_0_1666667",
                 std::string(kAddRelu6) +
                     "  %s : float = prim::Constant[value=0.1666667]()\n  %m : Tensor = aten::mul(%x, %c)\n"
                     "  %y : Tensor = aten::mul(%m, %s)\n  return (%y)\n"},
        Spelling{"six_divided_by_product",
                 std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%six_t, %m)\n  return (%y)\n",
                 {{"six_t", scalar_tensor(6)}}},
        Spelling{"add_one_dim_tensor_three",
                 "  %a : Tensor = aten::add(%x, %three_t, %i1)\n  %c : Tensor = aten::relu6(%a)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n",
                 {{"three_t", at::full({1}, 3.0, at::kDouble)}}},
        Spelling{"div_floor_rounding",
                 std::string(kAddRelu6) +
                     "  %mode : str = prim::Constant[value=\"floor\"]()\n  %m : Tensor = aten::mul(%x, %c)\n"
                     "  %y : Tensor = aten::div(%m, %i6, %mode)\n  return (%y)\n"},
        Spelling{"other_operand_y",
                 "  %a : Tensor = aten::add(%y, %i3, %i1)\n  %c : Tensor = aten::relu6(%a)\n"
                 "  %m : Tensor = aten::mul(%x, %c)\n  %o : Tensor = aten::div(%m, %i6)\n  return (%o)\n",
                 {}, "%x : Tensor, %y : Tensor"},
        Spelling{"other_operand_y_sixth_on_x",
                 "  %a : Tensor = aten::add(%y, %i3, %i1)\n  %c : Tensor = aten::relu6(%a)\n"
                 "  %s : Tensor = aten::div(%x, %i6)\n  %o : Tensor = aten::mul(%s, %c)\n  return (%o)\n",
                 {}, "%x : Tensor, %y : Tensor"},
        Spelling{"add_result_also_returned",
                 std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y, %a)\n"},
        Spelling{"clamp_result_also_returned",
                 std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n  return (%y, %c)\n"},
        Spelling{"product_also_used",
                 std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n"
                     "  %z : Tensor = aten::add(%m, %i1, %i1)\n  return (%y, %z)\n"},
        Spelling{"hardsigmoid_also_used",
                 "  %h : Tensor = aten::hardsigmoid(%x)\n  %y : Tensor = aten::mul(%x, %h)\n  return (%y, %h)\n"},
        // The graph input is written after the chain read it.
        Spelling{"input_mutated_later",
                 std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n"
                     "  %w : Tensor = aten::add_(%x, %i1, %i1)\n  return (%y)\n"},
        Spelling{"input_mutated_through_view",
                 "  %shape : int[] = prim::Constant[value=[-1]]()\n  %v : Tensor = aten::view(%x, %shape)\n" +
                     std::string(kAddRelu6) +
                     "  %m : Tensor = aten::mul(%x, %c)\n  %y : Tensor = aten::div(%m, %i6)\n"
                     "  %w : Tensor = aten::add_(%v, %i1, %i1)\n  return (%y, %v)\n"},
        Spelling{"hardswish_in_place_on_input", "  %y : Tensor = aten::hardswish_(%x)\n  return (%y)\n"},
        Spelling{"integer_input",
                 "  %a : Long(2, 3) = aten::add(%x, %i3, %i1)\n  %c : Long(2, 3) = aten::relu6(%a)\n"
                 "  %m : Long(2, 3) = aten::mul(%x, %c)\n  %y : Float(2, 3) = aten::div(%m, %i6)\n"
                 "  return (%y)\n",
                 {}, "%x : Long(2, 3)"},
        Spelling{"integer_input_aten_hardswish", "  %y : Tensor = aten::hardswish(%x)\n  return (%y)\n", {},
                 "%x : Int(2, 3)"}),
    spelling_name);

TEST(FuseHardswish, AtenHardswishStaysWhenNotAbsorbing) {
  const GraphPtr graph = chain_graph(
      "  %h : Tensor = aten::hardswish(%x)\n"
      "  %s : Tensor = aten::hardsigmoid(%x)\n"
      "  %y : Tensor = aten::mul(%x, %s)\n"
      "  return (%h, %y)\n");
  expect_unchanged(graph, [](const GraphPtr& g) { return FuseHardswish(g, ChainOptions{false}); });
}

TEST(FuseHardswish, SpelledOutChainFusesWhenNotAbsorbing) {
  const GraphPtr graph = chain_graph(std::string(kAddRelu6) +
                                     "  %m : Tensor = aten::mul(%x, %c)\n"
                                     "  %y : Tensor = aten::div(%m, %i6)\n  return (%y)\n");
  EXPECT_EQ(FuseHardswish(graph, ChainOptions{false}), 1);
  expect_fully_fused(graph, "ifx::hardswish");
}

// The output of one chain is the input of the next.
TEST(FuseHardswish, ConsecutiveChainsBothFuse) {
  const GraphPtr graph = chain_graph(std::string(kAddRelu6) +
                                     "  %m : Tensor = aten::mul(%x, %c)\n"
                                     "  %y : Tensor = aten::div(%m, %i6)\n"
                                     "  %a2 : Tensor = aten::add(%y, %i3, %i1)\n"
                                     "  %c2 : Tensor = aten::hardtanh(%a2, %f0, %f6)\n"
                                     "  %m2 : Tensor = aten::mul(%c2, %y)\n"
                                     "  %z : Tensor = aten::div(%m2, %f6)\n  return (%z)\n");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardswish(graph), 2);
  expect_fully_fused(graph, "ifx::hardswish", 2);
  expect_same_outputs(original, graph);
}

// Chains in both branches of a prim::If fuse inside their blocks.
TEST(FuseHardswish, FusesInsideIfBlocks) {
  const GraphPtr graph = chain_graph(
      "  %r : Tensor = prim::If(%cond)\n"
      "    block0():\n"
      "      %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "      %c : Tensor = aten::relu6(%a)\n"
      "      %m : Tensor = aten::mul(%x, %c)\n"
      "      %y : Tensor = aten::div(%m, %i6)\n"
      "      -> (%y)\n"
      "    block1():\n"
      "      %h : Tensor = aten::hardsigmoid(%x)\n"
      "      %z : Tensor = aten::mul(%h, %x)\n"
      "      -> (%z)\n"
      "  return (%r)\n",
      {}, "%x : Tensor, %cond : bool");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardswish(graph), 2);
  expect_fully_fused(graph, "ifx::hardswish", 2);
  expect_same_outputs(original, graph);
}

// A chain whose add is outside the block holding the rest spans two blocks.
TEST(FuseHardswish, ChainAcrossBlocksStaysUnfused) {
  const GraphPtr graph = chain_graph(
      "  %a : Tensor = aten::add(%x, %i3, %i1)\n"
      "  %r : Tensor = prim::If(%cond)\n"
      "    block0():\n"
      "      %c : Tensor = aten::relu6(%a)\n"
      "      %m : Tensor = aten::mul(%x, %c)\n"
      "      %y : Tensor = aten::div(%m, %i6)\n"
      "      -> (%y)\n"
      "    block1():\n"
      "      -> (%x)\n"
      "  return (%r)\n",
      {}, "%x : Tensor, %cond : bool");
  expect_unchanged(graph, fuse_hardswish);
}

// FuseHardsigmoid alone turns x * (clamp(x + 3, 0, 6) / 6) into
// x * ifx::hardsigmoid(x); FuseHardswish then absorbs that.
TEST(FuseHardswish, AbsorbsFusedHardsigmoid) {
  const GraphPtr graph = chain_graph(std::string(kAddRelu6) +
                                     "  %h : Tensor = aten::div(%c, %i6)\n"
                                     "  %y : Tensor = aten::mul(%x, %h)\n  return (%y)\n");
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FuseHardsigmoid(graph), 1);
  EXPECT_EQ(count_nodes(graph, "ifx::hardsigmoid"), 1);
  EXPECT_EQ(FuseHardswish(graph), 1);
  expect_fully_fused(graph, "ifx::hardswish");
  EXPECT_EQ(count_nodes(graph, "ifx::hardsigmoid"), 0);
  expect_same_outputs(original, graph);
}

}  // namespace
}  // namespace ifx_test
