#include "launch.cuh"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ifx::kernels {
namespace {

// IFX_PDL=0 turns PDL off for the process (to measure what it buys:
// benchmarks/replay_overhead.py). Devices below sm_90 ignore the attribute;
// the wait compiles to nothing there.
bool programmatic_from_environment() {
  const char* value = std::getenv("IFX_PDL");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

std::atomic<bool> programmatic{programmatic_from_environment()};

}  // namespace

void set_programmatic_launch(bool enabled) { programmatic.store(enabled); }
bool programmatic_launch() { return programmatic.load(); }

}  // namespace ifx::kernels
