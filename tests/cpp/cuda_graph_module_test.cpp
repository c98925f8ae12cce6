// CudaGraphModule's CPU path: without CUDA inputs every call runs the module
// as it is (the CUDA path is tested by tests/python/test_graph_replay.py and
// through ifx_run --cuda-graphs on a GPU).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ifx_torch/cuda_graph_module.h"

namespace {

torch::jit::Module hardswish_module() {
  torch::jit::Module module("HardswishModule");
  module.define("def forward(self, x):\n  return x * torch.clamp(x + 3, 0, 6) / 6\n");
  module.eval();
  return module;
}

TEST(CudaGraphModule, CpuInputsRunTheModuleAsItIs) {
  ifx_torch::CudaGraphModule runner(hardswish_module());
  for (int batch : {1, 2, 1}) {
    const at::Tensor x = torch::randn({batch, 8}) * 4;
    const at::Tensor y = runner.forward({x}).toTensor();
    EXPECT_TRUE(torch::allclose(y, torch::hardswish(x)));
  }
  EXPECT_EQ(runner.captured_graphs(), 0u);
}

TEST(CudaGraphModule, RejectsZeroGraphs) {
  ifx_torch::CudaGraphOptions options;
  options.max_graphs = 0;
  EXPECT_THROW(ifx_torch::CudaGraphModule(hardswish_module(), options), c10::Error);
}

}  // namespace
