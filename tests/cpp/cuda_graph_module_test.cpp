// CudaGraphModule's CPU path: without CUDA inputs every call runs the module
// as it is (the CUDA path is tested by tests/python/test_graph_replay.py and
// through ifx_run --cuda-graphs on a GPU). On a GPU, also: a capture that fails
// (out of memory, a host sync) falls back and leaves nothing capturing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

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

// A module whose `fail_on`-th call fails after some GPU work: it allocates 2^48
// floats, 1 PiB ("oom"), or reads a value on the host ("sync"). Its other calls
// return x * 2.
torch::jit::Module fails_on_call(int64_t fail_on, const std::string& failure) {
  torch::jit::Module module("FailsOnOneCall");
  module.register_attribute("calls", c10::IntType::get(), int64_t{0});
  module.register_attribute("fail_on", c10::IntType::get(), fail_on);
  const std::string fail = failure == "oom"
                               ? "        y = y + torch.empty([1 << 48], device=x.device)[:1]\n"
                               : "        y = y * float(y.sum())\n";
  module.define("def forward(self, x):\n    self.calls += 1\n    y = x * 2\n    if self.calls == self.fail_on:\n" +
                fail + "    return y\n");
  module.eval();
  return module;
}

TEST(CudaGraphModule, CpuErrorsReachTheCaller) {
  // Nothing is captured on the CPU, so a failing call is the caller's error (this also
  // checks the failing module the GPU tests below use).
  for (const std::string failure : {"oom", "sync"}) {
    ifx_torch::CudaGraphModule runner(fails_on_call(2, failure));
    const at::Tensor x = torch::randn({4, 8});
    EXPECT_TRUE(torch::equal(runner.forward({x}).toTensor(), x * 2));
    if (failure == "oom") {
      EXPECT_THROW(runner.forward({x}), std::exception);
    } else {
      EXPECT_TRUE(torch::allclose(runner.forward({x}).toTensor(), x * 2 * (x * 2).sum()));
    }
    EXPECT_TRUE(torch::equal(runner.forward({x}).toTensor(), x * 2));
  }
}

// After a failed capture the device works as before: random numbers, a fresh
// allocation, a sync, and a new capture that replays correctly.
void expect_cuda_usable() {
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  const at::Tensor fresh = torch::randn({3 << 20}, cuda);  // an odd size: a new block, not a cached one
  EXPECT_TRUE(std::isfinite(fresh.sum().item<float>()));
  torch::cuda::synchronize();
  ifx_torch::CudaGraphModule runner(hardswish_module());
  for (int i = 0; i < 3; ++i) {
    const at::Tensor x = torch::randn({2, 8}, cuda) * 4;
    EXPECT_TRUE(torch::allclose(runner.forward({x}).toTensor(), torch::hardswish(x)));
  }
  EXPECT_EQ(runner.captured_graphs(), 1u);
}

TEST(CudaGraphModule, FailedCaptureFallsBackAndLeavesNothingCapturing) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::NoGradGuard no_grad;
  for (const std::string failure : {"oom", "sync"}) {
    SCOPED_TRACE(failure);
    ifx_torch::CudaGraphOptions options;
    options.warmup_calls = 1;  // call 1 warms up, call 2 is captured: it fails there
    ifx_torch::CudaGraphModule runner(fails_on_call(2, failure), options);
    const at::Tensor x = torch::randn({4, 8}, torch::TensorOptions().device(torch::kCUDA));
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(runner.forward({x}).toTensor(), x * 2));
    EXPECT_EQ(runner.captured_graphs(), 0u);
    expect_cuda_usable();
  }
}

TEST(CudaGraphModule, OutOfMemoryInWarmUpFallsBack) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::NoGradGuard no_grad;
  ifx_torch::CudaGraphModule runner(fails_on_call(1, "oom"));  // the first warm-up call
  const at::Tensor x = torch::randn({4, 8}, torch::TensorOptions().device(torch::kCUDA));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(runner.forward({x}).toTensor(), x * 2));
  EXPECT_EQ(runner.captured_graphs(), 0u);
  expect_cuda_usable();
}

}  // namespace
