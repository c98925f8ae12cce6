// capture_with_cleanup (csrc/api/capture_steps.h): the order in which a capture
// that fails is ended and cleaned up, against stand-ins for torch's capture
// calls that log what is done. On the CPU; the same on a GPU is tested through
// CudaGraphModule (cuda_graph_module_test.cpp, tests/python/test_capture_failures.py).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "api/capture_steps.h"

namespace {

using Log = std::vector<std::string>;

class LoggingSteps : public ifx_torch::detail::CaptureSteps {
 public:
  explicit LoggingSteps(bool begin_fails = false, bool end_fails = false)
      : begin_fails_(begin_fails), end_fails_(end_fails) {}
  void begin() override {
    log.push_back("begin");
    if (begin_fails_) throw std::runtime_error("capture_begin failed");
  }
  void end() override {
    log.push_back("end");
    if (end_fails_) throw std::runtime_error("operation failed due to a previous error during capture");
  }
  void stop_allocating_to_pool() override { log.push_back("unroute"); }
  void settle_after_invalid_capture() override { log.push_back("settle"); }
  Log log;

 private:
  bool begin_fails_, end_fails_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

c10::IValue fails(const char* message) { throw std::runtime_error(message); }

TEST(CaptureSteps, CallFailingInAValidCaptureEndsItAndRaisesItsOwnError) {
  LoggingSteps steps;
  EXPECT_EQ(message_of([&] { ifx_torch::detail::capture_with_cleanup(steps, [] { return fails("out of memory"); }); }),
            "out of memory");
  EXPECT_EQ(steps.log, (Log{"begin", "end"}));
}

TEST(CaptureSteps, InvalidatedCaptureIsCleanedUpAndTheCallErrorRaised) {
  LoggingSteps steps(false, /*end_fails=*/true);
  EXPECT_EQ(message_of([&] {
              ifx_torch::detail::capture_with_cleanup(
                  steps, [] { return fails("operation not permitted when stream is capturing"); });
            }),
            "operation not permitted when stream is capturing");
  // The allocator is routed out of the pool, then the generator and the error state are settled.
  EXPECT_EQ(steps.log, (Log{"begin", "end", "unroute", "settle"}));
}

TEST(CaptureSteps, CaptureEndFailingAfterAGoodCallIsCleanedUpAndRaised) {
  LoggingSteps steps(false, /*end_fails=*/true);
  EXPECT_EQ(message_of([&] { ifx_torch::detail::capture_with_cleanup(steps, [] { return c10::IValue(1); }); }),
            "operation failed due to a previous error during capture");
  EXPECT_EQ(steps.log, (Log{"begin", "end", "unroute", "settle"}));
}

TEST(CaptureSteps, CaptureBeginFailingUnroutesTheAllocator) {
  LoggingSteps steps(/*begin_fails=*/true);
  EXPECT_EQ(message_of([&] { ifx_torch::detail::capture_with_cleanup(steps, [] { return c10::IValue(1); }); }),
            "capture_begin failed");
  EXPECT_EQ(steps.log, (Log{"begin", "unroute"}));
}

TEST(CaptureSteps, GoodCaptureReturnsTheOutputs) {
  LoggingSteps steps;
  EXPECT_EQ(ifx_torch::detail::capture_with_cleanup(steps, [] { return c10::IValue(int64_t{7}); }).toInt(), 7);
  EXPECT_EQ(steps.log, (Log{"begin", "end"}));
}

}  // namespace
