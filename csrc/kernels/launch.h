// The host-side switch of launch.cuh, for code built without nvcc.
#pragma once

#include <cstring>

namespace ifx::kernels {

// Whether our kernels launch with programmatic dependent launch (launch.cuh).
// Off unless IFX_PDL=1: over two GPU runs of 16 CNN rows each, a bare replay with
// PDL on was no faster than with it off (off / on latency geometric mean 0.995
// and 1.00; docs/benchmarks.md, "Graph replay"). Process-wide; a CUDA graph
// keeps the setting it was captured with.
void set_programmatic_launch(bool enabled);
bool programmatic_launch();

// What IFX_PDL's value asks for: "1" on; unset, "" or "0" off. Anything else is
// not a setting (`valid` false), and the launcher stays off.
struct ProgrammaticLaunchSetting {
  bool enabled;
  bool valid;
};
inline ProgrammaticLaunchSetting programmatic_launch_setting(const char* ifx_pdl) {
  if (ifx_pdl == nullptr || ifx_pdl[0] == '\0' || std::strcmp(ifx_pdl, "0") == 0) return {false, true};
  if (std::strcmp(ifx_pdl, "1") == 0) return {true, true};
  return {false, false};
}

}  // namespace ifx::kernels
