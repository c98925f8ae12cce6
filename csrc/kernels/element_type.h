// The element types the kernels handle, listed once: the enum here, the
// launchers' type switch (element_dispatch.cuh) and the dtypes the ops and
// passes accept (ops/kernel_dtype.h) come from this table. Host-only and
// torch-free, like the rest of csrc/kernels/.
#pragma once

// X(Enum, device type, c10::ScalarType enumerator, "name", bytes). The device
// types are only spelled out where CUDA code expands the table.
#define IFX_ELEMENT_TYPES(X)                          \
  X(Float32, float, Float, "float32", 4)              \
  X(Float16, __half, Half, "float16", 2)              \
  X(BFloat16, __nv_bfloat16, BFloat16, "bfloat16", 2) \
  X(Float64, double, Double, "float64", 8)

namespace ifx::kernels {

enum class ElementType {
#define IFX_ELEMENT_ENUM(name, device_type, scalar_type, text, bytes) k##name,
  IFX_ELEMENT_TYPES(IFX_ELEMENT_ENUM)
#undef IFX_ELEMENT_ENUM
};

inline constexpr int element_size(ElementType type) {
  switch (type) {
#define IFX_ELEMENT_SIZE(name, device_type, scalar_type, text, bytes) \
  case ElementType::k##name:                                         \
    return bytes;
    IFX_ELEMENT_TYPES(IFX_ELEMENT_SIZE)
#undef IFX_ELEMENT_SIZE
  }
  return 0;
}

}  // namespace ifx::kernels
