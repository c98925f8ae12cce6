// ReadDimsOfLayerInputs: aten::dim of a conv2d / linear output reads the
// layer's input instead, so BatchNorm's input check no longer keeps the batch
// norm after a conv from folding; the check still raises where it raised.
#include "passes/read_dims_of_layer_inputs.h"
#include "linted_passes.h"
#include "test_utils.h"

namespace ifx_test {
namespace {

// conv2d, then BatchNorm2d as TorchScript leaves it where freezing could not
// fold the check away (densenet121): `if input.dim() != 4: raise`, then
// batch_norm, then relu. `layer_end` may write to the conv's input.
std::string conv_bn_relu(const std::string& layer_end = "") {
  return "  %s1 : int[] = prim::Constant[value=[1, 1]]()\n"
         "  %p1 : int[] = prim::Constant[value=[1, 1]]()\n"
         "  %four : int = prim::Constant[value=4]()\n"
         "  %false : bool = prim::Constant[value=0]()\n"
         "  %true : bool = prim::Constant[value=1]()\n"
         "  %momentum : float = prim::Constant[value=0.1]()\n"
         "  %eps : float = prim::Constant[value=1.0000000000000001e-05]()\n"
         "  %message : str = prim::Constant[value=\"expected 4D input\"]()\n"
         "  %y : Tensor = aten::conv2d(%x, %w, %b, %s1, %p1, %s1, %i1)\n" +
         layer_end +
         "  %d : int = aten::dim(%y)\n"
         "  %bad : bool = aten::ne(%d, %four)\n"
         "  prim::If(%bad)\n"
         "    block0():\n"
         "      prim::RaiseException(%message, %none)\n"
         "      -> ()\n"
         "    block1():\n"
         "      -> ()\n"
         "  %n : Tensor = aten::batch_norm(%y, %gamma, %beta, %mean, %var, %false, %momentum, %eps, %true)\n"
         "  %o : Tensor = aten::relu(%n)\n"
         "  return (%o)\n";
}

TensorConstants conv_bn_constants() {
  return {{"w", at::randn({4, 3, 3, 3}, at::kDouble)},   {"b", at::randn({4}, at::kDouble)},
          {"gamma", at::randn({4}, at::kDouble)},        {"beta", at::randn({4}, at::kDouble)},
          {"mean", at::randn({4}, at::kDouble)},         {"var", at::rand({4}, at::kDouble) + 0.5}};
}

// What the graph's one aten::dim reads: "input" for a graph input, else the producing node's kind.
std::string dim_reads(const GraphPtr& graph) {
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() != c10::aten::dim) continue;
    torch::jit::Node* producer = node->input(0)->node();
    return producer->kind() == c10::prim::Param ? "input" : producer->kind().toQualString();
  }
  return "";
}

TEST(ReadDimsOfLayerInputs, LetsTheBatchNormAfterAConvFoldAndItsReluFuse) {
  const GraphPtr graph = chain_graph(conv_bn_relu(), conv_bn_constants());
  const GraphPtr original = graph->copy();
  const GraphPtr unchanged = graph->copy();
  EXPECT_EQ(FoldConvBatchNorm(unchanged), 0);  // the check is a second user of the conv's output
  ASSERT_EQ(ReadDimsOfLayerInputs(graph), 1);
  EXPECT_EQ(dim_reads(graph), "input");
  const auto fused = RunPipeline(graph);
  EXPECT_EQ(fused.at("conv+batch_norm"), 1);
  EXPECT_EQ(fused.at("conv2d+relu"), 1);
  EXPECT_EQ(count_nodes(graph, "aten::batch_norm"), 0) << *graph;
  const std::vector<c10::IValue> images = {activation_input(at::kDouble, {2, 3, 8, 8})};
  const auto expected = run_graph(original, images);
  const auto actual = run_graph(graph, images);
  expect_tensors_close(actual[0].toTensor(), expected[0].toTensor(), 1e-10);
  // An unbatched image: the check raises before and after, as BatchNorm2d does.
  const std::vector<c10::IValue> unbatched = {activation_input(at::kDouble, {3, 8, 8})};
  EXPECT_THROW(run_graph(original, unbatched), std::exception);
  EXPECT_THROW(run_graph(graph, unbatched), std::exception);
}

TEST(ReadDimsOfLayerInputs, MovesReadsOfALinearsOutput) {
  const GraphPtr graph = chain_graph(
      "  %y : Tensor = aten::linear(%x, %w, %none)\n"
      "  %d : int = aten::dim(%y)\n"
      "  return (%y, %d)\n",
      {{"w", at::randn({5, 4}, at::kDouble)}});
  const GraphPtr original = graph->copy();
  EXPECT_EQ(ReadDimsOfLayerInputs(graph), 1);
  EXPECT_EQ(dim_reads(graph), "input");
  for (const auto& sizes : {std::vector<int64_t>{4}, std::vector<int64_t>{3, 4}, std::vector<int64_t>{2, 3, 4}}) {
    const std::vector<c10::IValue> inputs = {activation_input(at::kDouble, sizes)};
    EXPECT_EQ(run_graph(graph, inputs)[1].toInt(), run_graph(original, inputs)[1].toInt());
  }
}

TEST(ReadDimsOfLayerInputs, LeavesReadsWhereTheInputIsWrittenOrTheLayerIsAnother) {
  // unsqueeze_ after the conv changes the input's dimensions: dim(x) would no longer be dim(y).
  const GraphPtr written = chain_graph(conv_bn_relu("  %x2 : Tensor = aten::unsqueeze_(%x, %i0)\n"),
                                       conv_bn_constants());
  EXPECT_EQ(ReadDimsOfLayerInputs(written), 0);
  EXPECT_EQ(dim_reads(written), "aten::conv2d");
  const GraphPtr other = chain_graph(
      "  %y : Tensor = aten::relu(%x)\n"
      "  %d : int = aten::dim(%y)\n"
      "  return (%y, %d)\n");
  EXPECT_EQ(ReadDimsOfLayerInputs(other), 0);
  EXPECT_EQ(dim_reads(other), "aten::relu");
}

}  // namespace
}  // namespace ifx_test
