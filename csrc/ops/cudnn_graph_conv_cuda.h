// ifx::conv2d_act's cudnn_graph path: cuDNN's convolution with the bias, the
// residual and the activation as pointwise nodes of one cuDNN graph
// (cudnn-frontend), which cuDNN's runtime fusion runs as one kernel, so that
// the output is written once instead of by cuDNN's conv and then our epilogue
// kernel (docs/fusion.md, Kernels). A graph is built on a thread's first ask
// for its call description and device and kept; where cuDNN has no engine for
// it the path is unavailable and the op runs another.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "kernel_choice.h"

namespace ifx::ops {

// True when cuDNN has a plan for `call` (a call kernel_choice.h's cudnn_graph
// path covers) on `input`'s device, the current one, on this thread: each
// thread builds and keeps its own, as torch does with its cuDNN plans. The
// first ask for a description builds its graph where `may_build` (which can
// take a second where cuDNN compiles a kernel for it; never while a stream
// captures a CUDA graph), later asks look it up. `why_not` gets the reason
// when it is false.
bool cudnn_graph_conv_available(const ConvCall& call, const at::Tensor& input,
                                bool may_build = true, std::string* why_not = nullptr);

// The conv through its built graph: only where cudnn_graph_conv_available is
// true for the same arguments on this thread. The output is channels_last.
at::Tensor run_cudnn_graph_conv(const ConvCall& call, const at::Tensor& input,
                                const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                const std::optional<at::Tensor>& residual, const std::vector<int64_t>& out_size);

}  // namespace ifx::ops
