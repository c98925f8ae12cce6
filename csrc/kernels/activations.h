// The activations the fused ops apply, listed once. The enum, the names the ops
// take (also the pattern names, e.g. "conv2d+hardswish"), the ATen op each one
// stands for (the reference every backend matches, and what the passes match in
// a graph) and the device math (activation_math.cuh, one function per entry)
// all come from this table. Adding an activation: one line here, its device
// function, and its tests. No CUDA or torch headers: CPU builds use it too.
#pragma once

// X(Enum, "name", "aten op"): the ATen op is unary and computes the activation
// alone; its in-place form is the same name with a trailing underscore.
#define IFX_ACTIVATIONS(X)                           \
  X(None, "none", "")                                \
  X(Relu, "relu", "aten::relu")                      \
  X(Relu6, "relu6", "aten::relu6")                   \
  X(Hardswish, "hardswish", "aten::hardswish")       \
  X(Hardsigmoid, "hardsigmoid", "aten::hardsigmoid") \
  X(Silu, "silu", "aten::silu")                      \
  X(Sigmoid, "sigmoid", "aten::sigmoid")             \
  X(Mish, "mish", "aten::mish")

namespace ifx::kernels {

enum class Activation {
#define IFX_ACTIVATION_ENUM(name, text, aten_op) k##name,
  IFX_ACTIVATIONS(IFX_ACTIVATION_ENUM)
#undef IFX_ACTIVATION_ENUM
};

struct ActivationInfo {
  Activation activation;
  const char* name;     // as the ops' `activation` argument takes it
  const char* aten_op;  // "" for none
};

inline constexpr ActivationInfo kActivations[] = {
#define IFX_ACTIVATION_INFO(name, text, aten_op) {Activation::k##name, text, aten_op},
    IFX_ACTIVATIONS(IFX_ACTIVATION_INFO)
#undef IFX_ACTIVATION_INFO
};

inline constexpr int kActivationCount = static_cast<int>(sizeof(kActivations) / sizeof(kActivations[0]));

constexpr const ActivationInfo& activation_info(Activation activation) {
  return kActivations[static_cast<int>(activation)];
}

}  // namespace ifx::kernels
