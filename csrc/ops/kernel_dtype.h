// Maps torch dtypes onto the kernels' element types (csrc/kernels/element_type.h).
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include "kernels/element_type.h"

namespace ifx::ops {

inline kernels::ElementType kernel_element_type(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat: return kernels::ElementType::kFloat32;
    case c10::kHalf: return kernels::ElementType::kFloat16;
    case c10::kBFloat16: return kernels::ElementType::kBFloat16;
    case c10::kDouble: return kernels::ElementType::kFloat64;
    default: TORCH_CHECK(false, "ifx: no CUDA kernel for ", type);
  }
}

}  // namespace ifx::ops
