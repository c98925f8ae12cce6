// The emulation tests' element conversions: a double to and from each element
// type the kernels take (16-bit types through float, as the host conversions
// of cuda_fp16.h / cuda_bf16.h go).
#pragma once

namespace ifx::kernels {

template <typename T> T from_double(double v) { return T(float(v)); }
template <> inline double from_double<double>(double v) { return v; }
template <typename T> double to_double(T v) { return double(float(v)); }
template <> inline double to_double<double>(double v) { return v; }

}  // namespace ifx::kernels
