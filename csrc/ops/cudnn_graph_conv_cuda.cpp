#include "cudnn_graph_conv_cuda.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cudnn/Handle.h>
#include <cudnn_frontend.h>

#include <exception>
#include <map>
#include <memory>
#include <unordered_map>

#include "conv2d_act.h"

namespace ifx::ops {
namespace {

namespace fe = cudnn_frontend;
using TensorNode = std::shared_ptr<fe::graph::Tensor_attributes>;
using kernels::Activation;
using kernels::ElementType;

constexpr const char* kOp = "ifx::conv2d_act";

// The graph's operands, by uid in the variant pack.
enum Operand : int64_t { kInput = 1, kWeight, kBias, kResidual, kOutput };

struct BuiltGraph {
  std::shared_ptr<fe::graph::Graph> graph;  // null where cuDNN has no engine for it
  int64_t workspace_bytes = 0;
  std::string why_not;
};

// Everything the graph depends on, the device included.
std::vector<int64_t> graph_key(const ConvCall& c, int device) {
  return {device,     static_cast<int64_t>(c.dtype), c.batch,   c.in_channels, c.in_h,      c.in_w,
          c.out_channels, c.out_h,  c.out_w,     c.kernel_h,    c.kernel_w,  c.stride_h, c.stride_w,
          c.pad_h,    c.pad_w,      c.dilation_h, c.dilation_w, c.groups,    c.has_bias,  c.has_residual,
          static_cast<int64_t>(c.activation)};
}

using GraphCache = std::map<std::vector<int64_t>, std::shared_ptr<const BuiltGraph>>;

// One cache per thread, as torch keeps its cuDNN plans: an execution plan is not to be run by two
// threads at once, and each thread runs it with its own handle (the one it was built with). Never
// freed: destroying cuDNN plans at process exit has crashed torch with recent cuDNN releases.
GraphCache& thread_graphs() {
  thread_local GraphCache* graphs = new GraphCache();
  return *graphs;
}

// The types cudnn_graph_covers lets through.
fe::DataType_t io_type(ElementType type) {
  switch (type) {
    case ElementType::kFloat16: return fe::DataType_t::HALF;
    case ElementType::kBFloat16: return fe::DataType_t::BFLOAT16;
    case ElementType::kFloat32: return fe::DataType_t::FLOAT;
    default: TORCH_CHECK(false, kOp, ": cudnn_graph builds fp16, bf16 and fp32 graphs only");
  }
}

// Engines the graph may not take: as torch's own cuDNN convs, none that converts its inputs to a
// narrower type; and for fp32 none on tensor cores, TF32 allowed or not, because cuDNN's fused TF32
// engines took mobilenet_v3_large's and efficientnet_b0's error against float64 to 6-8x eager's with
// down-converting engines already barred (H100, batch 64; docs/benchmarks.md, "Twelfth GPU
// session"), where our TF32 kernels stay within 1.33x. Exact fp32 engines remain (the depthwise ones
// among them are faster than ours at batch 64).
std::vector<fe::NumericalNote_t> barred_numerics(const ConvCall& c) {
  std::vector<fe::NumericalNote_t> barred = {fe::NumericalNote_t::DOWN_CONVERT_INPUTS};
  if (c.dtype == ElementType::kFloat32) barred.push_back(fe::NumericalNote_t::TENSOR_CORE);
  return barred;
}

// Strides of a channels_last [n, c, h, w] tensor, in cuDNN's NCHW order of dimensions.
std::vector<int64_t> nhwc_strides(int64_t c, int64_t h, int64_t w) { return {c * h * w, 1, w * c, c}; }

TensorNode input_tensor(fe::graph::Graph& g, Operand uid, const char* name, std::vector<int64_t> dims,
                        std::vector<int64_t> strides) {
  return g.tensor(fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(dims).set_stride(strides));
}

TensorNode binary(fe::graph::Graph& g, TensorNode a, TensorNode b, fe::PointwiseMode_t mode) {
  return g.pointwise(a, b, fe::graph::Pointwise_attributes().set_mode(mode));
}

// A scalar the graph holds (passed by value at every execution, no memory of ours).
// Four dimensions of 1, as the pointwise operands it meets have four.
TensorNode constant(fe::graph::Graph& g, float value) {
  return g.tensor(fe::graph::Tensor_attributes(value).set_dim({1, 1, 1, 1}).set_stride({1, 1, 1, 1}));
}

// min(max(v, 0), 6).
TensorNode relu6(fe::graph::Graph& g, TensorNode v) {
  return g.pointwise(v, fe::graph::Pointwise_attributes()
                            .set_mode(fe::PointwiseMode_t::RELU_FWD)
                            .set_relu_lower_clip(0.f)
                            .set_relu_upper_clip(6.f));
}

// activation(v) in cuDNN's pointwise modes, as activations.h defines each; null for mish, which they
// do not spell (cudnn_graph_covers leaves it out).
TensorNode activate(fe::graph::Graph& g, TensorNode v, Activation activation) {
  using Mode = fe::PointwiseMode_t;
  const auto unary = [&](Mode mode) { return g.pointwise(v, fe::graph::Pointwise_attributes().set_mode(mode)); };
  const auto hardsigmoid = [&] {  // relu6(v + 3) / 6
    return binary(g, relu6(g, binary(g, v, constant(g, 3.f), Mode::ADD)), constant(g, 1.f / 6.f), Mode::MUL);
  };
  switch (activation) {
    case Activation::kNone: return v;
    case Activation::kRelu: return unary(Mode::RELU_FWD);
    case Activation::kRelu6: return relu6(g, v);
    case Activation::kHardswish: return binary(g, v, hardsigmoid(), Mode::MUL);
    case Activation::kHardsigmoid: return hardsigmoid();
    case Activation::kSilu:
      return g.pointwise(v, fe::graph::Pointwise_attributes().set_mode(Mode::SWISH_FWD).set_swish_beta(1.f));
    case Activation::kSigmoid: return unary(Mode::SIGMOID_FWD);
    case Activation::kMish: return nullptr;
  }
  return nullptr;
}

// Builds the call's graph and cuDNN's plan for it (heuristics' first engine that builds and that
// barred_numerics lets through); on failure the result holds cuDNN's reason and no graph.
std::shared_ptr<const BuiltGraph> build_graph(const ConvCall& c, cudnnHandle_t handle) {
  auto built = std::make_shared<BuiltGraph>();
  const auto failed = [&](const char* step, fe::error_t status) {
    built->why_not = std::string(step) + ": " + status.get_message();
    return built;
  };
  try {
    auto g = std::make_shared<fe::graph::Graph>();
    g->set_io_data_type(io_type(c.dtype))
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    const TensorNode x = input_tensor(*g, kInput, "input", {c.batch, c.in_channels, c.in_h, c.in_w},
                                      nhwc_strides(c.in_channels, c.in_h, c.in_w));
    // cuDNN reads the groups off the weight: a depthwise weight has one input channel per filter.
    const int64_t filter_channels = c.in_channels / c.groups;
    const TensorNode w = input_tensor(*g, kWeight, "weight", {c.out_channels, filter_channels, c.kernel_h, c.kernel_w},
                                      nhwc_strides(filter_channels, c.kernel_h, c.kernel_w));
    TensorNode y = g->conv_fprop(x, w,
                                 fe::graph::Conv_fprop_attributes()
                                     .set_padding({c.pad_h, c.pad_w})
                                     .set_stride({c.stride_h, c.stride_w})
                                     .set_dilation({c.dilation_h, c.dilation_w}));
    if (c.has_bias) {
      const TensorNode b = input_tensor(*g, kBias, "bias", {1, c.out_channels, 1, 1},
                                        {c.out_channels, 1, c.out_channels, c.out_channels});
      y = binary(*g, y, b, fe::PointwiseMode_t::ADD);
    }
    if (c.has_residual) {
      const TensorNode r = input_tensor(*g, kResidual, "residual", {c.batch, c.out_channels, c.out_h, c.out_w},
                                        nhwc_strides(c.out_channels, c.out_h, c.out_w));
      y = binary(*g, y, r, fe::PointwiseMode_t::ADD);
    }
    y = activate(*g, y, c.activation);
    if (!y) {
      built->why_not = "no cuDNN pointwise form of the activation";
      return built;
    }
    y->set_output(true)
        .set_uid(kOutput)
        .set_data_type(io_type(c.dtype))
        .set_dim({c.batch, c.out_channels, c.out_h, c.out_w})
        .set_stride(nhwc_strides(c.out_channels, c.out_h, c.out_w));

    if (auto s = g->validate(); s.is_bad()) return failed("validate", s);
    if (auto s = g->build_operation_graph(handle); s.is_bad()) return failed("build_operation_graph", s);
    if (auto s = g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}); s.is_bad()) {
      return failed("create_execution_plans", s);
    }
    g->deselect_numeric_notes(barred_numerics(c));
    if (auto s = g->check_support(handle); s.is_bad()) return failed("check_support", s);
    if (auto s = g->build_plans(handle, fe::BuildPlanPolicy_t::HEURISTICS_CHOICE); s.is_bad()) {
      return failed("build_plans", s);
    }
    int64_t workspace = 0;
    if (auto s = g->get_workspace_size(workspace); s.is_bad()) return failed("get_workspace_size", s);
    built->workspace_bytes = workspace;
    built->graph = std::move(g);
  } catch (const std::exception& e) {
    built->why_not = std::string("cudnn-frontend threw: ") + e.what();
  }
  return built;
}

void check_cudnn(cudnnStatus_t status, const char* what) {
  TORCH_CHECK(status == CUDNN_STATUS_SUCCESS, kOp, ": ", what, " failed: ", cudnnGetErrorString(status));
}

// This thread's graph of the call on the current device: built on the first ask where `may_build`,
// else null until then.
std::shared_ptr<const BuiltGraph> graph_for(const ConvCall& call, const at::Tensor& input,
                                            bool may_build) {
  GraphCache& graphs = thread_graphs();
  const std::vector<int64_t> key = graph_key(call, input.device().index());
  const auto known = graphs.find(key);
  if (known != graphs.end()) return known->second;
  if (!may_build) return nullptr;
  std::shared_ptr<const BuiltGraph> built = build_graph(call, at::native::getCudnnHandle());
  graphs.emplace(key, built);
  return built;
}

}  // namespace

bool cudnn_graph_conv_available(const ConvCall& call, const at::Tensor& input,
                                bool may_build, std::string* why_not) {
  const std::shared_ptr<const BuiltGraph> built = graph_for(call, input, may_build);
  if (built == nullptr) {
    if (why_not != nullptr) *why_not = "not built on this thread, and no build while a stream captures";
    return false;
  }
  if (why_not != nullptr) *why_not = built->why_not;
  return built->graph != nullptr;
}

at::Tensor run_cudnn_graph_conv(const ConvCall& call, const at::Tensor& input,
                                const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                const std::optional<at::Tensor>& residual, const std::vector<int64_t>& out_size) {
  const std::shared_ptr<const BuiltGraph> built = graph_for(call, input, /*may_build=*/false);
  TORCH_CHECK(built != nullptr && built->graph != nullptr, kOp, ": no cuDNN plan for this call on this thread (",
              built == nullptr ? "none built" : built->why_not, ")");
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  // The weight's memory is KRSC already (ConvCall::weight_channels_last), the bias dense [K].
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  const at::Tensor r = residual.has_value() ? residual->contiguous(at::MemoryFormat::ChannelsLast) : at::Tensor();
  at::Tensor out = at::empty(out_size, input.options(), at::MemoryFormat::ChannelsLast);
  at::Tensor workspace;
  if (built->workspace_bytes > 0) workspace = at::empty({built->workspace_bytes}, input.options().dtype(at::kByte));
  const auto pointer = [](const at::Tensor& t) { return const_cast<void*>(t.const_data_ptr()); };
  std::unordered_map<int64_t, void*> pack = {
      {kInput, pointer(x)}, {kWeight, pointer(weight)}, {kOutput, out.mutable_data_ptr()}};
  if (call.has_bias) pack.emplace(kBias, pointer(b));
  if (call.has_residual) pack.emplace(kResidual, pointer(r));
  const cudnnHandle_t handle = at::native::getCudnnHandle();
  check_cudnn(cudnnSetStream(handle, at::cuda::getCurrentCUDAStream()), "cudnnSetStream");
  fe::error_t status =
      built->graph->execute(handle, pack, workspace.defined() ? workspace.mutable_data_ptr() : nullptr);
  TORCH_CHECK(status.is_good(), kOp, ": cuDNN graph execution failed: ", status.get_message());
  return out;
}

}  // namespace ifx::ops
