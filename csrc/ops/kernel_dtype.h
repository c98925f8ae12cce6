// The dtypes the fused ops take, from the kernels' element-type table
// (csrc/kernels/element_type.h): the one whitelist for the ops' argument
// checks, the passes' dtype checks and the kernels' element types.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string>

#include "kernels/element_type.h"

namespace ifx::ops {

// The kernels' element type for `type`, or nullopt when the fused ops do not take it.
inline std::optional<kernels::ElementType> fused_element_type(c10::ScalarType type) {
  switch (type) {
#define IFX_SCALAR_TYPE_CASE(name, device_type, scalar_type, text, bytes) \
  case c10::ScalarType::scalar_type:                                      \
    return kernels::ElementType::k##name;
    IFX_ELEMENT_TYPES(IFX_SCALAR_TYPE_CASE)
#undef IFX_SCALAR_TYPE_CASE
    default:
      return std::nullopt;
  }
}

inline bool is_fused_dtype(c10::ScalarType type) { return fused_element_type(type).has_value(); }

// "float32, float16, bfloat16 or float64": for error messages.
inline const std::string& fused_dtype_names() {
  static const std::string names = [] {
    const char* all[] = {
#define IFX_ELEMENT_NAME(name, device_type, scalar_type, text, bytes) text,
        IFX_ELEMENT_TYPES(IFX_ELEMENT_NAME)
#undef IFX_ELEMENT_NAME
    };
    const int count = static_cast<int>(sizeof(all) / sizeof(all[0]));
    std::string joined;
    for (int i = 0; i < count; ++i) joined += std::string(i == 0 ? "" : i + 1 == count ? " or " : ", ") + all[i];
    return joined;
  }();
  return names;
}

inline kernels::ElementType kernel_element_type(c10::ScalarType type) {
  const auto element = fused_element_type(type);
  TORCH_CHECK(element.has_value(), "ifx: no CUDA kernel for ", type);
  return *element;
}

}  // namespace ifx::ops
