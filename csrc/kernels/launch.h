// The host-side switch of launch.cuh, for code built without nvcc.
#pragma once

namespace ifx::kernels {

// Whether our kernels launch with programmatic dependent launch (launch.cuh):
// on unless IFX_PDL=0. Process-wide; a CUDA graph keeps the setting it was
// captured with.
void set_programmatic_launch(bool enabled);
bool programmatic_launch();

}  // namespace ifx::kernels
