// The element types the kernels handle, shared by every kernel header.
// Host-only and torch-free, like the rest of csrc/kernels/.
#pragma once

namespace ifx::kernels {

enum class ElementType { kFloat32, kFloat16, kBFloat16, kFloat64 };

}  // namespace ifx::kernels
