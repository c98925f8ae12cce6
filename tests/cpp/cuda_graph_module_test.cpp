// CudaGraphModule, the one replay runner (Python's ifx_torch.CudaGraphModule
// binds it): its logic on the CPU through a backend that "replays" by re-running
// the call (signatures, the LRU cache, the fallback with one warning, output
// ownership, threads), the CPU path of the CUDA backend (every call runs the
// module as it is), and on a GPU: a capture that fails (out of memory, a host
// sync) falls back and leaves nothing capturing.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "ifx_torch/cuda_graph_module.h"

namespace {

// Stands in for CUDA graphs on the CPU: capture runs the call once into static
// outputs; a replay runs it again on the static inputs and copies the result in.
class RecomputingBackend : public ifx_torch::GraphBackend {
 public:
  explicit RecomputingBackend(bool fail = false) : fail_(fail) {}
  std::optional<c10::Device> replay_device(const std::vector<at::Tensor>& tensors) override {
    if (tensors.empty()) return std::nullopt;
    for (const at::Tensor& t : tensors) {
      if (at::GradMode::is_enabled() && t.requires_grad()) return std::nullopt;
    }
    return tensors.front().device();
  }
  ifx_torch::CapturedGraph capture(const ifx_torch::GraphCall& call, const std::vector<c10::IValue>& static_inputs,
                                   c10::Device, int) override {
    ++captures;
    if (fail_) throw std::runtime_error("operation not permitted when stream is capturing");
    const c10::IValue output = call(static_inputs);
    return {output, [call, static_inputs, output] { output.toTensor().copy_(call(static_inputs).toTensor()); }};
  }
  void before_replay(c10::Device) override {}
  void after_replay(c10::Device) override {}
  std::atomic<int> captures{0};

 private:
  bool fail_;
};

ifx_torch::GraphCall hardswish_call() {
  return [](const std::vector<c10::IValue>& inputs) { return c10::IValue(torch::hardswish(inputs[0].toTensor())); };
}

TEST(GraphRunner, CachesPerSignatureAndEvictsTheLeastRecentlyUsed) {
  auto backend = std::make_shared<RecomputingBackend>();
  ifx_torch::CudaGraphOptions options;
  options.max_graphs = 2;
  ifx_torch::CudaGraphModule runner(hardswish_call(), options, backend);
  const at::Tensor a = torch::randn({1, 4}), b = torch::randn({2, 4}), c = torch::randn({3, 4});
  for (const at::Tensor& x : {a, b, a}) EXPECT_TRUE(torch::allclose(runner.forward({x}).toTensor(), torch::hardswish(x)));
  EXPECT_EQ(backend->captures, 2);
  runner.forward({c});  // evicts b
  EXPECT_EQ(backend->captures, 3);
  runner.forward({a});
  EXPECT_EQ(backend->captures, 3);
  EXPECT_TRUE(torch::allclose(runner.forward({b}).toTensor(), torch::hardswish(b)));
  EXPECT_EQ(backend->captures, 4);
  EXPECT_EQ(runner.captured_graphs(), 2u);
}

TEST(GraphRunner, SignatureIsShapeStridesDtypeAndStructure) {
  auto backend = std::make_shared<RecomputingBackend>();
  ifx_torch::CudaGraphOptions options;
  options.max_graphs = 16;
  const auto first_tensor = [](const std::vector<c10::IValue>& inputs) {
    return inputs[0].isTuple() ? inputs[0].toTupleRef().elements()[0] : inputs[0];
  };
  ifx_torch::CudaGraphModule runner(first_tensor, options, backend);
  const at::Tensor x = torch::randn({2, 3, 4, 5});
  const auto captures_after = [&](std::vector<c10::IValue> inputs) {
    runner.forward(inputs);
    return backend->captures.load();
  };
  EXPECT_EQ(captures_after({x}), 1);
  EXPECT_EQ(captures_after({torch::randn({2, 3, 4, 5})}), 1);
  EXPECT_EQ(captures_after({x.to(at::kDouble)}), 2);
  EXPECT_EQ(captures_after({x.contiguous(at::MemoryFormat::ChannelsLast)}), 3);
  EXPECT_EQ(captures_after({x, c10::IValue(int64_t{3})}), 4);
  EXPECT_EQ(captures_after({x, c10::IValue(int64_t{4})}), 5);
  EXPECT_EQ(captures_after({x, c10::IValue(int64_t{4})}), 5);
  EXPECT_EQ(captures_after({c10::ivalue::Tuple::create({x, x})}), 6);
}

TEST(GraphRunner, FailedCaptureWarnsOnceAndRunsTheCall) {
  auto backend = std::make_shared<RecomputingBackend>(/*fail=*/true);
  std::vector<std::string> warnings;
  ifx_torch::CudaGraphModule runner(hardswish_call(), {}, backend,
                                    [&](const std::string& message) { warnings.push_back(message); });
  for (int batch : {1, 1, 2, 2}) {
    const at::Tensor x = torch::randn({batch, 4});
    EXPECT_TRUE(torch::allclose(runner.forward({x}).toTensor(), torch::hardswish(x)));
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("CUDA graph capture failed (operation not permitted"), std::string::npos);
  EXPECT_EQ(backend->captures, 2);  // one attempt per signature, never retried
  EXPECT_EQ(runner.captured_graphs(), 0u);
}

TEST(GraphRunner, FreshOutputsByDefaultStaticOnRequest) {
  ifx_torch::CudaGraphModule fresh(hardswish_call(), {}, std::make_shared<RecomputingBackend>());
  const at::Tensor x1 = torch::randn({2, 4}), x2 = torch::randn({2, 4});
  const at::Tensor y1 = fresh.forward({x1}).toTensor();
  const at::Tensor y2 = fresh.forward({x2}).toTensor();
  EXPECT_TRUE(torch::allclose(y1, torch::hardswish(x1)));
  EXPECT_NE(y1.data_ptr(), y2.data_ptr());
  ifx_torch::CudaGraphOptions options;
  options.static_outputs = true;
  ifx_torch::CudaGraphModule statics(hardswish_call(), options, std::make_shared<RecomputingBackend>());
  const at::Tensor s1 = statics.forward({x1}).toTensor();
  const at::Tensor s2 = statics.forward({x2}).toTensor();
  EXPECT_EQ(s1.data_ptr(), s2.data_ptr());
  EXPECT_TRUE(torch::allclose(s1, torch::hardswish(x2)));
}

TEST(GraphRunner, InputsRequiringGradRunTheCall) {
  auto backend = std::make_shared<RecomputingBackend>();
  ifx_torch::CudaGraphModule runner(hardswish_call(), {}, backend);
  const at::Tensor x = torch::randn({3, 4}).requires_grad_();
  EXPECT_TRUE(runner.forward({x}).toTensor().requires_grad());
  EXPECT_EQ(backend->captures, 0);
}

TEST(GraphRunner, ThreadsGetTheirOwnResults) {
  ifx_torch::CudaGraphModule runner(hardswish_call(), {}, std::make_shared<RecomputingBackend>());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int seed = 0; seed < 4; ++seed) {
    threads.emplace_back([&, seed] {
      auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
      for (int i = 0; i < 50; ++i) {
        const at::Tensor x = at::randn({2, 16}, generator) * 4;
        if (!torch::equal(runner.forward({x}).toTensor(), torch::hardswish(x))) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
}


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
