// FuseLinearActivation: linear (+ bias) + activation becomes one ifx::linear_act,
// numerically equal in float64; near-misses stay as they are.
#include "passes/functionalize_conv_chains.h"
#include "passes/fuse_linear_activation.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


TensorConstants linear_weights() {
  return {{"w", at::randn({6, 5}, at::kDouble)}, {"b", at::randn({6}, at::kDouble)}};
}

GraphPtr linear_graph(const std::string& body, const std::string& signature = "%x : Tensor") {
  return chain_graph(indented(body), linear_weights(), signature);
}

struct LinearCase {
  std::string name;
  std::string body;
  std::string pattern;
};

void PrintTo(const LinearCase& c, std::ostream* os) { *os << c.name; }

class LinearActivationSpelling : public testing::TestWithParam<LinearCase> {};

TEST_P(LinearActivationSpelling, FusesWithSameOutputs) {
  const GraphPtr graph = linear_graph(GetParam().body);
  const GraphPtr original = graph->copy();
  FunctionalizeConvChains(graph);
  EXPECT_EQ(FuseLinearActivation(graph), (std::map<std::string, int64_t>{{GetParam().pattern, 1}}));
  expect_fully_fused(graph, "ifx::linear_act");
  const std::vector<c10::IValue> inputs = {activation_input(at::kDouble, {3, 5})};
  expect_tensors_close(run_graph(graph, inputs)[0].toTensor(), run_graph(original, inputs)[0].toTensor(), 1e-12);
}

const std::string kLinear = "%y : Tensor = aten::linear(%x, %w, %b)\n";

INSTANTIATE_TEST_SUITE_P(
    FuseLinearActivation, LinearActivationSpelling,
    testing::Values(
        LinearCase{"relu", kLinear + "%o : Tensor = aten::relu(%y)\n return (%o)", "linear+relu"},
        LinearCase{"relu_in_place", kLinear + "%o : Tensor = aten::relu_(%y)\n return (%o)", "linear+relu"},
        LinearCase{"ifx_hardswish", kLinear + "%o : Tensor = ifx::hardswish(%y)\n return (%o)", "linear+hardswish"},
        LinearCase{"hardsigmoid", kLinear + "%o : Tensor = aten::hardsigmoid(%y)\n return (%o)",
                   "linear+hardsigmoid"},
        LinearCase{"no_bias_silu", "%y : Tensor = aten::linear(%x, %w, %none)\n %o : Tensor = aten::silu(%y)\n"
                                   " return (%o)",
                   "linear+silu"}),
    [](const testing::TestParamInfo<LinearCase>& info) { return info.param.name; });

class LinearActivationNearMiss : public testing::TestWithParam<LinearCase> {};

TEST_P(LinearActivationNearMiss, StaysUnfused) {
  const GraphPtr graph = linear_graph(GetParam().body, "%x : Tensor, %wx : Tensor");
  const std::string before = graph->toString();
  EXPECT_TRUE(FuseLinearActivation(graph).empty());
  EXPECT_EQ(graph->toString(), before);
}

INSTANTIATE_TEST_SUITE_P(
    FuseLinearActivation, LinearActivationNearMiss,
    testing::Values(
        LinearCase{"linear_alone", kLinear + " return (%y)", ""},
        LinearCase{"output_used_twice", kLinear + "%o : Tensor = aten::relu(%y)\n return (%o, %y)", ""},
        LinearCase{"weight_not_constant",
                   "%y : Tensor = aten::linear(%x, %wx, %b)\n %o : Tensor = aten::relu(%y)\n return (%o)", ""},
        LinearCase{"clamp_0_5", kLinear + "%f5 : float = prim::Constant[value=5.]()\n"
                                          "%o : Tensor = aten::clamp(%y, %f0, %f5)\n return (%o)",
                   ""}),
    [](const testing::TestParamInfo<LinearCase>& info) { return info.param.name; });

}  // namespace
}  // namespace ifx_test
