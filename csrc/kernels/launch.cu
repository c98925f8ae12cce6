#include "launch.cuh"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace ifx::kernels {
namespace {

// IFX_PDL=1 turns PDL on for the process (to measure what it buys:
// benchmarks/replay_overhead.py). Devices below sm_90 ignore the attribute;
// the wait compiles to nothing there.
bool programmatic_from_environment() {
  const char* value = std::getenv("IFX_PDL");
  const ProgrammaticLaunchSetting setting = programmatic_launch_setting(value);
  if (!setting.valid) {
    std::fprintf(stderr, "ifx_torch: IFX_PDL=%s is not a setting (use 1 for on, 0 for off); PDL stays off\n", value);
  }
  return setting.enabled;
}

std::atomic<bool> programmatic{programmatic_from_environment()};

}  // namespace

void set_programmatic_launch(bool enabled) { programmatic.store(enabled); }
bool programmatic_launch() { return programmatic.load(); }

}  // namespace ifx::kernels
