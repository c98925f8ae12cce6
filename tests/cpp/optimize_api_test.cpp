// ifx_torch::optimize / report_json on small scripted modules.
#include <torch/csrc/jit/serialization/import.h>

#include <sstream>

#include "ifx_torch/ifx_torch.h"
#include "test_utils.h"

namespace ifx_test {
namespace {

torch::jit::Module scripted(const std::string& forward_source, bool eval = true) {
  torch::jit::Module module("TestModule");
  module.register_attribute("training", c10::BoolType::get(), true);
  module.define(forward_source);
  if (eval) module.eval();
  return module;
}

const char* const kHardswishModule = "def forward(self, x):\n  return x * torch.clamp(x + 3, 0, 6) / 6\n";

GraphPtr forward_graph(const torch::jit::Module& module) { return module.get_method("forward").graph(); }

// Same results as `reference` in float64 and float32 on fresh inputs.
void expect_same_forward(torch::jit::Module& optimized, torch::jit::Module& reference) {
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor x = activation_input(dtype);
    expect_tensors_close(optimized.forward({x}).toTensor(), reference.forward({x}).toTensor(),
                         dtype == at::kDouble ? 1e-12 : 1e-5);
  }
}

TEST(Optimize, FusesHardswishAndKeepsOutputs) {
  torch::jit::Module module = scripted(kHardswishModule);
  torch::jit::Module optimized = ifx_torch::optimize(module);
  torch::jit::testing::FileCheck()
      .check_not("aten::clamp")
      ->check_count("ifx::hardswish", 1, /*exactly=*/true)
      ->check_not("aten::")
      ->run(*forward_graph(optimized));
  expect_same_forward(optimized, module);
}

TEST(Optimize, ReportsCounts) {
  torch::jit::Module optimized = ifx_torch::optimize(scripted(kHardswishModule));
  const std::string report = ifx_torch::report_json(optimized);
  ASSERT_FALSE(report.empty());
  EXPECT_NE(report.find("\"hardswish\": 1"), std::string::npos) << report;
  EXPECT_NE(report.find("\"hardsigmoid\": 0"), std::string::npos) << report;
  EXPECT_NE(report.find("\"ops_before\": {"), std::string::npos) << report;
  EXPECT_NE(report.find("\"aten::clamp\": 1"), std::string::npos) << report;
  EXPECT_NE(report.find("\"ops_after\": {\"ifx::hardswish\": 1}"), std::string::npos) << report;
}

TEST(Optimize, FusesHardsigmoid) {
  torch::jit::Module module = scripted("def forward(self, x):\n  return torch.clamp(x + 3, 0, 6) / 6\n");
  torch::jit::Module optimized = ifx_torch::optimize(module);
  expect_fully_fused(forward_graph(optimized), "ifx::hardsigmoid");
  EXPECT_NE(ifx_torch::report_json(optimized).find("\"hardsigmoid\": 1"), std::string::npos);
  expect_same_forward(optimized, module);
}

// The in-place spelling of hand-written MobileNetV3s (y = x + 3; y.clamp_(0, 6); x * y / 6).
TEST(Optimize, FusesInPlaceSpelling) {
  torch::jit::Module module = scripted(
      "def forward(self, x):\n"
      "  y = x + 3.\n"
      "  y.clamp_(0., 6.)\n"
      "  return x * y / 6.\n");
  torch::jit::Module optimized = ifx_torch::optimize(module);
  expect_fully_fused(forward_graph(optimized), "ifx::hardswish");
  expect_same_forward(optimized, module);
}

TEST(Optimize, LeavesInputModuleUnchanged) {
  torch::jit::Module module = scripted(kHardswishModule);
  const std::string before = forward_graph(module)->toString();
  ifx_torch::optimize(module);
  EXPECT_EQ(forward_graph(module)->toString(), before);
  EXPECT_EQ(ifx_torch::report_json(module), "");
}

TEST(Optimize, RejectsTrainingMode) {
  try {
    ifx_torch::optimize(scripted(kHardswishModule, /*eval=*/false));
    FAIL() << "optimize accepted a module in training mode";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("training mode"), std::string::npos) << error.what();
  }
}

TEST(Optimize, RejectsModuleWithoutForward) {
  torch::jit::Module module = scripted("def helper(self, x):\n  return x\n");
  try {
    ifx_torch::optimize(module);
    FAIL() << "optimize accepted a module without forward";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("no forward method"), std::string::npos) << error.what();
  }
}

// The optimized module saves and loads with its fused op and report.
TEST(Optimize, SurvivesSaveAndLoad) {
  torch::jit::Module module = scripted(kHardswishModule);
  std::stringstream file;
  ifx_torch::optimize(module).save(file);
  torch::jit::Module loaded = torch::jit::load(file);
  EXPECT_EQ(count_nodes(forward_graph(loaded), "ifx::hardswish"), 1);
  EXPECT_NE(ifx_torch::report_json(loaded).find("\"hardswish\": 1"), std::string::npos);
  expect_same_forward(loaded, module);
}

}  // namespace
}  // namespace ifx_test
