// FoldConvBatchNorm: an inference batch_norm after a conv folds into the conv's
// weight and bias (affine or not, any eps, conv with or without bias, traced
// _convolution), with outputs equal in float64; other cases stay unfolded.
#include "passes/fold_conv_batchnorm.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {


const char* const kBatchNormConstants = R"IR(
  %s1 : int[] = prim::Constant[value=[1, 1]]()
  %p1 : int[] = prim::Constant[value=[1, 1]]()
  %p0 : int[] = prim::Constant[value=[0, 0]]()
  %false : bool = prim::Constant[value=0]()
  %true : bool = prim::Constant[value=1]()
  %momentum : float = prim::Constant[value=0.1]()
  %eps : float = prim::Constant[value=1.0000000000000001e-05]()
  %eps_big : float = prim::Constant[value=0.001]()
)IR";

TensorConstants batch_norm_constants() {
  return {{"w", at::randn({4, 3, 3, 3}, at::kDouble)},
          {"b", at::randn({4}, at::kDouble)},
          {"gamma", at::randn({4}, at::kDouble)},
          {"beta", at::randn({4}, at::kDouble)},
          {"mean", at::randn({4}, at::kDouble)},
          {"var", at::rand({4}, at::kDouble) + 0.5}};
}

GraphPtr bn_graph(const std::string& body, const std::string& signature = "%x : Tensor") {
  return chain_graph(indented(std::string(kBatchNormConstants) + body), batch_norm_constants(), signature);
}

void expect_same_outputs_on_images(const GraphPtr& reference, const GraphPtr& optimized) {
  const std::vector<c10::IValue> inputs = {activation_input(at::kDouble, {2, 3, 8, 8})};
  const auto expected = run_graph(reference, inputs);
  const auto actual = run_graph(optimized, inputs);
  for (size_t i = 0; i < expected.size(); ++i) expect_tensors_close(actual[i].toTensor(), expected[i].toTensor(), 1e-10);
}

struct FoldCase {
  std::string name;
  std::string body;
};

void PrintTo(const FoldCase& c, std::ostream* os) { *os << c.name; }

class FoldsBatchNorm : public testing::TestWithParam<FoldCase> {};

TEST_P(FoldsBatchNorm, IntoTheConvWithSameOutputs) {
  const GraphPtr graph = bn_graph(GetParam().body);
  const GraphPtr original = graph->copy();
  EXPECT_EQ(FoldConvBatchNorm(graph), 1);
  EXPECT_EQ(count_nodes(graph, "aten::batch_norm"), 0) << *graph;
  EXPECT_EQ(count_nodes(graph, "aten::conv2d"), 1) << *graph;
  expect_same_outputs_on_images(original, graph);
}

const std::string kConvWithBias = "%y : Tensor = aten::conv2d(%x, %w, %b, %s1, %p1, %s1, %i1)\n";

INSTANTIATE_TEST_SUITE_P(
    FoldConvBatchNorm, FoldsBatchNorm,
    testing::Values(
        FoldCase{"affine", kConvWithBias +
                               "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %false, %momentum, "
                               "%eps, %true)\n return (%o)"},
        FoldCase{"not_affine", kConvWithBias +
                                   "%o : Tensor = aten::batch_norm(%y, %none, %none, %mean, %var, %false, "
                                   "%momentum, %eps, %true)\n return (%o)"},
        FoldCase{"conv_without_bias_and_large_eps",
                 "%y : Tensor = aten::conv2d(%x, %w, %none, %s1, %p0, %s1, %i1)\n"
                 "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %false, %momentum, %eps_big, "
                 "%true)\n return (%o)"},
        FoldCase{"traced_convolution",
                 "%op : int[] = prim::Constant[value=[0, 0]]()\n"
                 "%y : Tensor = aten::_convolution(%x, %w, %b, %s1, %p1, %s1, %false, %op, %i1, %false, %false, "
                 "%true, %true)\n"
                 "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %false, %momentum, %eps, "
                 "%true)\n return (%o)"}),
    [](const testing::TestParamInfo<FoldCase>& info) { return info.param.name; });

class KeepsBatchNorm : public testing::TestWithParam<FoldCase> {};

TEST_P(KeepsBatchNorm, WhenFoldingWouldChangeTheModel) {
  const GraphPtr graph = bn_graph(GetParam().body, "%x : Tensor, %running_mean : Tensor");
  const std::string before = graph->toString();
  EXPECT_EQ(FoldConvBatchNorm(graph), 0);
  EXPECT_EQ(graph->toString(), before);
}

INSTANTIATE_TEST_SUITE_P(
    FoldConvBatchNorm, KeepsBatchNorm,
    testing::Values(
        FoldCase{"conv_output_used_twice", kConvWithBias +
                                               "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, "
                                               "%false, %momentum, %eps, %true)\n return (%o, %y)"},
        FoldCase{"training_mode", kConvWithBias +
                                      "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %true, "
                                      "%momentum, %eps, %true)\n return (%o)"},
        FoldCase{"statistics_not_constant", kConvWithBias +
                                                "%o : Tensor = aten::batch_norm(%y, %gamma, %beta, %running_mean, "
                                                "%var, %false, %momentum, %eps, %true)\n return (%o)"},
        FoldCase{"batch_norm_of_an_input",
                 "%o : Tensor = aten::batch_norm(%x, %gamma, %beta, %mean, %var, %false, %momentum, %eps, "
                 "%true)\n return (%o)"}),
    [](const testing::TestParamInfo<FoldCase>& info) { return info.param.name; });

}  // namespace
}  // namespace ifx_test
