// FuseConvEpilogue: conv2d (+ bias) [+ residual add] [+ activation] becomes one
// ifx::conv2d_act in every spelling, numerically equal to the original in
// float64; near-misses stay as they are.
#include "passes/functionalize_conv_chains.h"
#include "passes/fuse_conv_epilogue.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


// Conv arguments as a frozen graph holds them: constant int lists.
const char* const kConvConstants = R"IR(
  %s1 : int[] = prim::Constant[value=[1, 1]]()
  %s2 : int[] = prim::Constant[value=[2, 2]]()
  %p0 : int[] = prim::Constant[value=[0, 0]]()
  %p1 : int[] = prim::Constant[value=[1, 1]]()
  %p2 : int[] = prim::Constant[value=[2, 2]]()
  %d1 : int[] = prim::Constant[value=[1, 1]]()
  %d2 : int[] = prim::Constant[value=[2, 2]]()
  %alpha2 : int = prim::Constant[value=2]()
  %f5 : float = prim::Constant[value=5.]()
  %groups : int = prim::Constant[value=4]()
  %nobias : NoneType = prim::Constant()
)IR";

constexpr int64_t kChannels = 4;

TensorConstants conv_weights() {
  return {{"w", at::randn({kChannels, kChannels, 3, 3}, at::kDouble)},
          {"b", at::randn({kChannels}, at::kDouble)},
          {"wdw", at::randn({kChannels, 1, 3, 3}, at::kDouble)},
          {"w1x1", at::randn({kChannels, kChannels, 1, 1}, at::kDouble)}};
}

// `body` uses %x [2, 4, 9, 9] and, where the signature has it, %r, a residual
// shaped like a stride-1 padding-1 conv output.
GraphPtr conv_graph(const std::string& body, const std::string& signature = "%x : Tensor, %r : Tensor") {
  return chain_graph(indented(std::string(kConvConstants) + body), conv_weights(), signature);
}

// float64 inputs drawn fresh for every call (never zeros).
std::vector<c10::IValue> conv_inputs(const GraphPtr& graph) {
  std::vector<c10::IValue> inputs;
  for (size_t i = 0; i < graph->inputs().size(); ++i) inputs.emplace_back(activation_input(at::kDouble, {2, 4, 9, 9}));
  return inputs;
}

void expect_same_conv_outputs(const GraphPtr& reference, const GraphPtr& optimized) {
  const auto inputs = conv_inputs(reference);
  const auto expected = run_graph(reference, inputs);
  const auto actual = run_graph(optimized, inputs);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) expect_tensors_close(actual[i].toTensor(), expected[i].toTensor(), 1e-12);
}

int64_t fused_total(const std::map<std::string, int64_t>& counts) {
  int64_t total = 0;
  for (const auto& entry : counts) total += entry.second;
  return total;
}

std::map<std::string, int64_t> run_passes(const GraphPtr& graph) {
  FunctionalizeConvChains(graph);
  return FuseConvEpilogue(graph);
}

struct ConvSpelling {
  std::string name;
  std::string body;
  std::string pattern;  // the report key it must produce
};

void PrintTo(const ConvSpelling& s, std::ostream* os) { *os << s.name; }

class ConvEpilogueSpelling : public testing::TestWithParam<ConvSpelling> {};

TEST_P(ConvEpilogueSpelling, FusesToOneOpWithSameOutputs) {
  const GraphPtr graph = conv_graph(GetParam().body);
  const GraphPtr original = graph->copy();
  const auto fused = run_passes(graph);
  ASSERT_EQ(fused.size(), 1u) << *graph;
  EXPECT_EQ(fused.begin()->first, GetParam().pattern);
  EXPECT_EQ(fused.begin()->second, 1);
  EXPECT_EQ(count_nodes(graph, "ifx::conv2d_act"), 1);
  // Only the residual's own use (one case has one) is left in aten.
  EXPECT_EQ(count_nodes(graph, "aten::conv2d") + count_nodes(graph, "aten::add") + count_nodes(graph, "aten::relu"), 0)
      << *graph;
  expect_same_conv_outputs(original, graph);
}

const std::string kConv = "%y : Tensor = aten::conv2d(%x, %w, %b, %s1, %p1, %d1, %i1)\n";
// Without a bias: a conv with one fuses alone when nothing else can join it.
const std::string kConvNoBias = "%y : Tensor = aten::conv2d(%x, %w, %nobias, %s1, %p1, %d1, %i1)\n";

INSTANTIATE_TEST_SUITE_P(
    FuseConvEpilogue, ConvEpilogueSpelling,
    testing::Values(
        ConvSpelling{"relu", kConv + "%o : Tensor = aten::relu(%y)\n return (%o)", "conv2d+relu"},
        ConvSpelling{"relu_in_place", kConv + "%o : Tensor = aten::relu_(%y)\n return (%o)", "conv2d+relu"},
        ConvSpelling{"clamp_min_0", kConv + "%o : Tensor = aten::clamp_min(%y, %i0)\n return (%o)", "conv2d+relu"},
        ConvSpelling{"clamp_0_none", kConv + "%o : Tensor = aten::clamp(%y, %f0, %none)\n return (%o)",
                     "conv2d+relu"},
        ConvSpelling{"relu6", kConv + "%o : Tensor = aten::relu6(%y)\n return (%o)", "conv2d+relu6"},
        ConvSpelling{"hardtanh_0_6_in_place", kConv + "%o : Tensor = aten::hardtanh_(%y, %f0, %f6)\n return (%o)",
                     "conv2d+relu6"},
        ConvSpelling{"clamp_0_6", kConv + "%o : Tensor = aten::clamp(%y, %i0, %i6)\n return (%o)", "conv2d+relu6"},
        ConvSpelling{"hardswish", kConv + "%o : Tensor = aten::hardswish(%y)\n return (%o)", "conv2d+hardswish"},
        ConvSpelling{"ifx_hardswish", kConv + "%o : Tensor = ifx::hardswish(%y)\n return (%o)", "conv2d+hardswish"},
        ConvSpelling{"hardsigmoid_in_place", kConv + "%o : Tensor = aten::hardsigmoid_(%y)\n return (%o)",
                     "conv2d+hardsigmoid"},
        ConvSpelling{"silu", kConv + "%o : Tensor = aten::silu(%y)\n return (%o)", "conv2d+silu"},
        ConvSpelling{"sigmoid_in_place", kConv + "%o : Tensor = aten::sigmoid_(%y)\n return (%o)", "conv2d+sigmoid"},
        ConvSpelling{"residual_after", kConv + "%o : Tensor = aten::add(%y, %r, %i1)\n return (%o)", "conv2d+add"},
        ConvSpelling{"residual_before", kConv + "%o : Tensor = aten::add(%r, %y, %i1)\n return (%o)", "conv2d+add"},
        ConvSpelling{"residual_relu",
                     kConv + "%a : Tensor = aten::add(%y, %r, %i1)\n %o : Tensor = aten::relu(%a)\n return (%o)",
                     "conv2d+add+relu"},
        ConvSpelling{"residual_relu_in_place",
                     kConv + "%a : Tensor = aten::add_(%y, %r, %i1)\n %o : Tensor = aten::relu_(%a)\n return (%o)",
                     "conv2d+add+relu"},
        ConvSpelling{"residual_used_elsewhere",
                     kConv + "%a : Tensor = aten::add(%y, %r, %i1)\n %o : Tensor = aten::relu(%a)\n"
                             "%t : Tensor = aten::mul(%r, %f3)\n return (%o, %t)",
                     "conv2d+add+relu"},
        ConvSpelling{"no_bias",
                     "%y : Tensor = aten::conv2d(%x, %w, %none, %s1, %p1, %d1, %i1)\n"
                     "%o : Tensor = aten::relu(%y)\n return (%o)",
                     "conv2d+relu"},
        ConvSpelling{"stride_2_dilation_2",
                     "%y : Tensor = aten::conv2d(%x, %w, %b, %s2, %p2, %d2, %i1)\n"
                     "%o : Tensor = ifx::hardswish(%y)\n return (%o)",
                     "conv2d+hardswish"},
        ConvSpelling{"depthwise_groups",
                     "%y : Tensor = aten::conv2d(%x, %wdw, %b, %s1, %p1, %d1, %groups)\n"
                     "%o : Tensor = aten::relu(%y)\n return (%o)",
                     "conv2d+relu"},
        ConvSpelling{"pointwise_residual",
                     "%y : Tensor = aten::conv2d(%x, %w1x1, %b, %s1, %p0, %d1, %i1)\n"
                     "%o : Tensor = aten::add(%y, %r, %i1)\n return (%o)",
                     "conv2d+add"}),
    [](const testing::TestParamInfo<ConvSpelling>& info) { return info.param.name; });

TEST(FuseConvEpilogue, SharedWeightsUsedByTwoConvsFuseBoth) {
  const GraphPtr graph = conv_graph(
      "%y1 : Tensor = aten::conv2d(%x, %w, %b, %s1, %p1, %d1, %i1)\n"
      "%o1 : Tensor = aten::relu(%y1)\n"
      "%y2 : Tensor = aten::conv2d(%o1, %w, %b, %s1, %p1, %d1, %i1)\n"
      "%o2 : Tensor = aten::add(%y2, %o1, %i1)\n"
      "return (%o2)",
      "%x : Tensor");
  const GraphPtr original = graph->copy();
  const auto fused = run_passes(graph);
  EXPECT_EQ(fused_total(fused), 2);
  expect_fully_fused(graph, "ifx::conv2d_act", 2);
  expect_same_conv_outputs(original, graph);
}

TEST(FuseConvEpilogue, ResidualSumUsedTwiceKeepsTheActivationOutside) {
  const GraphPtr graph = conv_graph(kConv + "%a : Tensor = aten::add(%y, %r, %i1)\n %o : Tensor = aten::relu(%a)\n"
                                            " return (%o, %a)");
  const GraphPtr original = graph->copy();
  const auto fused = run_passes(graph);
  EXPECT_EQ(fused, (std::map<std::string, int64_t>{{"conv2d+add", 1}}));
  EXPECT_EQ(count_nodes(graph, "aten::relu"), 1);
  expect_same_conv_outputs(original, graph);
}

// relu(conv1(x) + conv2(x)): conv1 takes the add and the relu, with conv2's
// output as its residual; conv2 keeps only its bias, or stays aten's without one.
TEST(FuseConvEpilogue, SumOfTwoConvsIsAbsorbedOnce) {
  for (const std::string second_bias : {"%b", "%nobias"}) {
    const GraphPtr graph = conv_graph(
        "%y1 : Tensor = aten::conv2d(%x, %w, %b, %s1, %p1, %d1, %i1)\n"
        "%y2 : Tensor = aten::conv2d(%x, %w1x1, " + second_bias + ", %s1, %p0, %d1, %i1)\n"
        "%a : Tensor = aten::add(%y1, %y2, %i1)\n"
        "%o : Tensor = aten::relu(%a)\n"
        "return (%o)",
        "%x : Tensor");
    const GraphPtr original = graph->copy();
    const std::map<std::string, int64_t> fused = run_passes(graph);
    const bool with_bias = second_bias == "%b";
    EXPECT_EQ(fused.count("conv2d+add+relu") ? fused.at("conv2d+add+relu") : 0, 1) << second_bias;
    EXPECT_EQ(fused.count("conv2d+bias") ? fused.at("conv2d+bias") : 0, with_bias ? 1 : 0) << second_bias;
    EXPECT_EQ(count_nodes(graph, "ifx::conv2d_act"), with_bias ? 2 : 1);
    EXPECT_EQ(count_nodes(graph, "aten::conv2d"), with_bias ? 0 : 1);
    expect_same_conv_outputs(original, graph);
  }
}

// Nothing after the conv can join it, but it has a bias: the fused op takes
// the conv and its bias alone, and whatever follows stays as it was.
TEST(FuseConvEpilogue, ConvWithABiasFusesAlone) {
  const std::string followers[] = {"return (%y)", "%o : Tensor = aten::relu(%y)\n return (%o, %y)",
                                   "%o : Tensor = aten::hardtanh(%y, %f0, %f5)\n return (%o)"};
  for (const std::string& follower : followers) {
    const GraphPtr graph = conv_graph(kConv + follower);
    const GraphPtr original = graph->copy();
    const std::map<std::string, int64_t> fused = FuseConvEpilogue(graph);
    EXPECT_EQ(fused, (std::map<std::string, int64_t>{{"conv2d+bias", 1}})) << follower;
    EXPECT_EQ(count_nodes(graph, "aten::conv2d"), 0) << follower;
    EXPECT_EQ(count_nodes(graph, "ifx::conv2d_act"), 1) << follower;
    expect_same_conv_outputs(original, graph);
  }
}

struct NearMiss {
  std::string name;
  std::string body;
};

void PrintTo(const NearMiss& s, std::ostream* os) { *os << s.name; }

class ConvEpilogueNearMiss : public testing::TestWithParam<NearMiss> {};

TEST_P(ConvEpilogueNearMiss, StaysUnfused) {
  const GraphPtr graph = conv_graph(GetParam().body, "%x : Tensor, %r : Tensor, %wx : Tensor");
  const std::string before = graph->toString();
  EXPECT_EQ(fused_total(FuseConvEpilogue(graph)), 0);
  EXPECT_EQ(graph->toString(), before);
}

INSTANTIATE_TEST_SUITE_P(
    FuseConvEpilogue, ConvEpilogueNearMiss,
    testing::Values(
        NearMiss{"conv_alone", kConvNoBias + "return (%y)"},
        NearMiss{"conv_output_used_twice",
                 kConvNoBias + "%o : Tensor = aten::relu(%y)\n return (%o, %y)"},
        NearMiss{"weight_not_constant",
                 "%y : Tensor = aten::conv2d(%x, %wx, %b, %s1, %p1, %d1, %i1)\n"
                 "%o : Tensor = aten::relu(%y)\n return (%o)"},
        NearMiss{"add_with_alpha_2", kConvNoBias + "%o : Tensor = aten::add(%y, %r, %alpha2)\n return (%o)"},
        NearMiss{"add_of_itself", kConvNoBias + "%o : Tensor = aten::add(%y, %y, %i1)\n return (%o)"},
        NearMiss{"hardtanh_0_5", kConvNoBias + "%o : Tensor = aten::hardtanh(%y, %f0, %f5)\n return (%o)"},
        NearMiss{"clamp_1_6", kConvNoBias + "%o : Tensor = aten::clamp(%y, %i1, %i6)\n return (%o)"},
        NearMiss{"clamp_min_1", kConvNoBias + "%o : Tensor = aten::clamp_min(%y, %f1)\n return (%o)"},
        NearMiss{"residual_written_before_the_add",
                 kConv + "%m : Tensor = aten::mul_(%r, %f3)\n %o : Tensor = aten::add(%y, %r, %i1)\n return (%o)"},
        NearMiss{"input_written_before_the_activation",
                 kConv + "%m : Tensor = aten::mul_(%x, %f3)\n %o : Tensor = aten::relu(%y)\n return (%o, %m)"}),
    [](const testing::TestParamInfo<NearMiss>& info) { return info.param.name; });

}  // namespace
}  // namespace ifx_test
