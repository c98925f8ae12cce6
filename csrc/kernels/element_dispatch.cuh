// The launchers' one switch over element types: f(TypeTag<T>{}) with T the
// device type of `type` (element_type.h's table).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "element_type.h"

namespace ifx::kernels {

template <typename T> struct TypeTag {
  using type = T;
};

template <typename F> cudaError_t dispatch_element_type(ElementType type, F&& f) {
  switch (type) {
#define IFX_ELEMENT_CASE(name, device_type, scalar_type, text, bytes) \
  case ElementType::k##name:                                   \
    return f(TypeTag<device_type>{});
    IFX_ELEMENT_TYPES(IFX_ELEMENT_CASE)
#undef IFX_ELEMENT_CASE
  }
  return cudaErrorInvalidValue;
}

}  // namespace ifx::kernels
