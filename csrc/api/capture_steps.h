// The steps of one CUDA graph capture that can fail, and the order in which a
// failed one is cleaned up, apart from CUDA itself: the backend runs them on
// torch's capture calls, and tests/cpp/capture_steps_test.cpp on stand-ins
// that log, on the CPU.
#pragma once

#include <ATen/core/ivalue.h>

#include <functional>

namespace ifx_torch::detail {

class CaptureSteps {
 public:
  virtual ~CaptureSteps() = default;
  virtual void begin() = 0;  // CUDAGraph::capture_begin into the shared pool
  virtual void end() = 0;    // CUDAGraph::capture_end
  // Ends the allocator's routing of allocations into the graph's pool (torch
  // starts it before the capture begins, and skips ending it when
  // cudaStreamEndCapture fails). A no-op where torch ended it.
  virtual void stop_allocating_to_pool() = 0;
  // Leaves the CUDA generator and the last CUDA error as a capture that ended
  // normally would (best effort: never throws).
  virtual void settle_after_invalid_capture() = 0;
};

// Runs `call` captured between steps.begin() and steps.end(). Whatever fails,
// no capture is in progress when this returns or throws, and the error that
// says most is the one thrown: the call's own, over capture_end's.
inline c10::IValue capture_with_cleanup(CaptureSteps& steps, const std::function<c10::IValue()>& call) {
  try {
    steps.begin();
  } catch (...) {
    steps.stop_allocating_to_pool();
    throw;
  }
  c10::IValue output;
  try {
    output = call();
  } catch (...) {
    try {
      steps.end();
    } catch (...) {  // an invalidated capture: cudaStreamEndCapture has ended it all the same
      steps.stop_allocating_to_pool();
      steps.settle_after_invalid_capture();
    }
    throw;
  }
  try {
    steps.end();
  } catch (...) {
    steps.stop_allocating_to_pool();
    steps.settle_after_invalid_capture();
    throw;
  }
  return output;
}

}  // namespace ifx_torch::detail
