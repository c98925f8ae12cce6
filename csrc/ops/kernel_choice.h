// Which kernel runs a fused layer on CUDA, as pure functions of the call's
// shapes, dtype, layout, torch's math flags and an override: the CUDA ops ask
// here and nowhere else, the thresholds and the environment override live
// here alone, and a table-driven GoogleTest (tests/cpp/kernel_choice_test.cpp)
// pins every rule on the CPU. Where the rules come from: docs/benchmarks.md,
// "Kernel choice".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/activations.h"
#include "kernels/element_type.h"
#include "kernels/shapes.h"

namespace ifx::ops {

// The paths of ifx::conv2d_act. X(Enum, "name").
#define IFX_CONV_PATHS(X)                                                                \
  X(Aten, "aten")                         /* the ATen composition: arguments no kernel covers */ \
  X(Depthwise, "depthwise")               /* our depthwise kernel, epilogue built in */          \
  X(DepthwiseTwoRows, "depthwise_two_rows") /* the same, two output rows per thread (NHWC 3x3) */ \
  X(DepthwiseSharedTile, "depthwise_shared_tile") /* the same, input tile in shared memory (NHWC fp32, 16-bit) */ \
  X(FewRowsMatmul, "few_rows_matmul")     /* 1x1 conv of a 1x1 map: our few-rows matmul */       \
  X(Pointwise, "pointwise")               /* 1x1 stride-1 conv on few pixels: our kernel */      \
  X(CudnnFusedRelu, "cudnn_fused_relu")   /* cuDNN's conv + bias (+ add) + relu */              \
  X(CudnnThenEpilogue, "cudnn+epilogue")  /* cuDNN's conv, then our epilogue kernel */          \
  X(CudnnGraph, "cudnn_graph")            /* cuDNN's conv with the epilogue in its graph: one kernel (cudnn_graph_conv_cuda.h) */ \
  X(ChannelPadded, "channel_padded")      /* input and weight channels zero-padded to 16 bytes, then a path for that conv */ \
  X(ImplicitGemm, "implicit_gemm")        /* CUTLASS implicit GEMM, 128x128 tiles, epilogue in */ \
  X(ImplicitGemmSmall, "implicit_gemm_small") /* the same with 64x64 tiles, for small problems */ \
  X(HopperGemm64x64, "hopper_gemm_64x64")     /* 1x1 stride-1 conv as a Hopper GEMM, epilogue in */ \
  X(HopperGemm64x128, "hopper_gemm_64x128")   /* the same, 64x128 output tiles */ \
  X(HopperGemm128x256, "hopper_gemm_128x256") /* the same, 128x256 output tiles */

// The paths of ifx::linear_act.
#define IFX_LINEAR_PATHS(X)                                                  \
  X(Aten, "aten")                       /* the ATen composition */              \
  X(FewRowsMatmul, "few_rows_matmul")   /* our few-rows matmul, epilogue built in */ \
  X(Cublas, "cublas")                   /* cuBLAS with its bias, no activation */ \
  X(CublasThenActivation, "cublas+activation") /* then our activation kernel */ \
  X(ImplicitGemmSplitK, "implicit_gemm_split_k") /* fp32: CUTLASS's GEMM split along K, then one sum + epilogue kernel; no rule takes it (not yet run on a GPU): forced, or IFX_LINEAR_TUNING=1 */

// The paths of ifx::squeeze_excite.
#define IFX_SQUEEZE_EXCITE_PATHS(X)                                             \
  X(Aten, "aten")               /* the ATen composition */                        \
  X(TwoKernels, "two_kernels")  /* squeeze (pool + fc1 partials), excite (fc2 + gate + scale) */ \
  X(ThreeKernels, "three_kernels") /* squeeze, the gates of the batch (fc2 + gate), scale */       \
  X(DepthwiseSqueeze, "depthwise_squeeze") /* the depthwise conv before it leaves the fc1 partials; excite */ \
  X(DepthwiseSqueezeGateKernel, "depthwise_squeeze_gate_kernel") /* that conv, the gates, scale */

// The paths of ifx::max_pool2d.
#define IFX_MAX_POOL_PATHS(X)                                                   \
  X(Aten, "aten")                   /* aten::max_pool2d: other layouts and arguments */ \
  X(ChannelsLast, "channels_last")  /* our NHWC kernel */

enum class ConvPath {
#define IFX_PATH_ENUM(name, text) k##name,
  IFX_CONV_PATHS(IFX_PATH_ENUM)
};
enum class LinearPath { IFX_LINEAR_PATHS(IFX_PATH_ENUM) };
enum class SqueezeExcitePath { IFX_SQUEEZE_EXCITE_PATHS(IFX_PATH_ENUM) };
enum class MaxPoolPath { IFX_MAX_POOL_PATHS(IFX_PATH_ENUM) };
#undef IFX_PATH_ENUM

const char* path_name(ConvPath path);
const char* path_name(LinearPath path);
const char* path_name(SqueezeExcitePath path);
const char* path_name(MaxPoolPath path);
// The path called `name`, or nullopt.
std::optional<ConvPath> conv_path_named(const std::string& name);
std::optional<LinearPath> linear_path_named(const std::string& name);

// What the choice needs to know of a conv2d_act call. Sizes as aten::conv2d
// sees them (4-D input and output).
struct ConvCall {
  kernels::ElementType dtype = kernels::ElementType::kFloat32;
  bool channels_last = false;  // the output's memory format (conv2d_output_format)
  int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1, out_channels = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1, groups = 1;
  bool has_bias = false;
  bool has_residual = false;
  bool residual_aligned = true;  // the residual's data sits on a 16-byte boundary
  // The weight's memory is [K, KH, KW, C] (channels_last, or any 1x1 weight),
  // and input, weight, bias and residual data sit on 16-byte boundaries: what
  // the implicit GEMM reads without a copy.
  bool weight_channels_last = false;
  bool operands_aligned = true;
  kernels::Activation activation = kernels::Activation::kNone;
  // Tensor-level preconditions of every kernel path, checked by the op: all
  // tensors on one device, a non-empty 4-D input, and a residual (if any) of
  // the output's exact size and dtype. False: the ATen composition.
  bool kernels_apply = true;
  // The hidden width of the squeeze-and-excitation block this conv feeds
  // (ifx::conv2d_act_squeeze_excite), whose kernels its tuning times with it;
  // 0 for a conv alone. Only the tuning key reads it.
  int64_t squeeze_hidden = 0;
};

struct LinearCall {
  kernels::ElementType dtype = kernels::ElementType::kFloat32;
  int64_t rows = 1, in_features = 1, out_features = 1;  // rows: the product of the leading dims
  bool has_bias = false;
  kernels::Activation activation = kernels::Activation::kNone;
  bool kernels_apply = true;  // tensors on one device, nothing empty
  // torch.backends.cuda.matmul.allow_tf32: cuBLAS's paths may use TF32 (ours are exact in fp32).
  // Only the tuning key reads it.
  bool matmul_tf32 = false;
};

struct SqueezeExciteCall {
  kernels::SqueezeExciteShape shape{};
  kernels::ElementType dtype = kernels::ElementType::kFloat32;
  bool kernels_apply = true;  // x, weights and biases on one device, one dtype, x dense in its format
};

struct MaxPoolCall {
  kernels::MaxPoolShape shape{};
  kernels::ElementType dtype = kernels::ElementType::kFloat32;
  // x 4-D, non-empty and channels_last-dense, of a dtype the kernels take; the
  // arguments pass ATen's checks. False: aten::max_pool2d.
  bool kernels_apply = true;
};

// torch's global math settings at the time of the call, and the GPU's size.
struct MathFlags {
  bool cudnn_enabled = true;  // torch.backends.cudnn.enabled
  bool allow_tf32 = false;    // torch.backends.cudnn.allow_tf32: fp32 convs may use TF32
  int multiprocessors = 132;  // of the call's device
  bool hopper_gemm = false;   // the device runs the Hopper GEMM kernels (kernels::hopper_gemm_available)
  bool cudnn_graph = true;    // the cudnn_graph path may be taken: IFX_CUDNN_GRAPH (cudnn_graph_enabled)
  bool cudnn_deterministic = false;  // torch.backends.cudnn.deterministic
};

// IFX_CUDNN_GRAPH, read once per process: 1 (default) lets the cudnn_graph path be tuned and forced,
// 0 keeps it out (to compare, or to skip cuDNN's plan builds on a model's first call).
bool cudnn_graph_enabled();

// Forces a path, to compare paths on another GPU, to rule a kernel out, or
// (tests) to run every path that covers a call.
enum class KernelPolicy { kAuto, kAlways, kNever };
struct KernelOverride {
  KernelPolicy pointwise = KernelPolicy::kAuto;  // IFX_POINTWISE_KERNEL=auto|always|never
  std::optional<ConvPath> conv;      // IFX_CONV_PATH=<path name>: taken wherever it covers the call
  std::optional<LinearPath> linear;  // IFX_LINEAR_PATH=<path name>: taken wherever it covers the call
  // IFX_SE_GATE_KERNEL=auto|always|never: squeeze-and-excitation gates in a kernel of their own
  // (three_kernels, depthwise_squeeze_gate_kernel) wherever our kernels take the block.
  KernelPolicy gate_kernel = KernelPolicy::kAuto;
};

// "auto", "always" or "never" as a KernelPolicy; anything else is an error that says `what` must be one.
KernelPolicy kernel_policy_named(std::string_view name, const char* what);

// IFX_POINTWISE_KERNEL and IFX_CONV_PATH, read once per process; an unknown
// value is an error that names the accepted ones.
const KernelOverride& environment_override();

ConvPath choose_conv_path(const ConvCall& call, const MathFlags& flags, const KernelOverride& override);
// The input channels ChannelPadded pads `call` to: whole 16-byte vectors of its element type.
int64_t channel_padded_width(const ConvCall& call);
LinearPath choose_linear_path(const LinearCall& call, const KernelOverride& override);
// The parts ImplicitGemmSplitK cuts the call's reduction into (0 where it cannot cut it in two).
int linear_split_k_slices(const LinearCall& call);
// The call as ImplicitGemmSplitK runs it: a 1x1 conv over [rows, 1, 1, in_features].
kernels::ImplicitGemmConvShape linear_as_conv_shape(const LinearCall& call);
// ifx::squeeze_excite: our kernels where they cover the call, the gates in a kernel of their own
// (ThreeKernels) where gate_kernel_pays or the override says so; else the ATen composition.
SqueezeExcitePath choose_squeeze_excite_path(const SqueezeExciteCall& call, const KernelOverride& override);
// True where computing the gates once for the batch in a kernel of their own, then scaling x in a
// streaming pass, is faster than computing them in every excite block: channels_last x of at least
// 8 MiB in fp32 or 32 MiB in a 16-bit type (the per-block timings of
// benchmarks/squeeze_excite_bandwidth.py; docs/notes/depthwise_and_se_kernels.md).
bool gate_kernel_pays(const kernels::SqueezeExciteShape& shape, kernels::ElementType type);
// ifx::conv2d_act_squeeze_excite: DepthwiseSqueeze (or DepthwiseSqueezeGateKernel, by the same rule and
// override as ThreeKernels) where the conv's own path (`conv_path`, which ifx::conv2d_act would take for
// `conv`) is a form of our NHWC depthwise kernel that can leave the block's squeeze
// (kernels::depthwise_squeeze_supported; `w1_aligned`: fc1's weight starts on 16 bytes) and our kernels
// take `block`; else what choose_squeeze_excite_path says for the block alone (the conv then runs as
// ifx::conv2d_act).
SqueezeExcitePath choose_depthwise_squeeze_path(const ConvCall& conv, ConvPath conv_path,
                                                const SqueezeExciteCall& block, bool w1_aligned,
                                                const KernelOverride& override);
// The form of the gates that `path` runs (kInExciteBlocks for the two-kernel paths and ATen).
kernels::SqueezeExciteGates squeeze_excite_gates(SqueezeExcitePath path);
// The depthwise form of our kernel that `path` runs (kOneRow for any other path).
kernels::DepthwiseForm depthwise_form(ConvPath path);
// The call's sizes as the depthwise kernels take them.
kernels::DepthwiseShape depthwise_shape(const ConvCall& call);
MaxPoolPath choose_max_pool_path(const MaxPoolCall& call);

// Every path that can compute the call, whether or not the rules prefer it:
// what an override may force, and what the op tests run one by one.
std::vector<ConvPath> conv_paths_covering(const ConvCall& call, const MathFlags& flags);
std::vector<LinearPath> linear_paths_covering(const LinearCall& call);

// The implicit GEMM's math for the call: TF32 where torch lets cuDNN use it
// for fp32 convs (16-bit types always run on tensor cores).
kernels::ConvMath implicit_gemm_math(const ConvCall& call, const MathFlags& flags);

// The Hopper GEMM paths' product for a 1x1 stride-1 call ([pixels, C] x
// [K, C]^T), and the tile of each of those paths (kTile64x64 for any other).
kernels::HopperGemmShape hopper_gemm_shape(const ConvCall& call);
kernels::HopperGemmTile hopper_gemm_tile(ConvPath path);

// Tuning: the first call of each shape times the paths worth trying
// (conv_candidates, the rules' choice first) and every later call with the
// same shape, dtype, layout, epilogue and flags takes the fastest. Calls made
// while a stream captures cannot time: they take the tuned path where the key
// is known (so a replayed graph runs the kernels a plain call runs), else the
// rules' choice. So do calls made while another thread is timing (one timing
// at a time; nothing waits for it). IFX_CONV_TUNING=0 takes the rules' choice always.
std::vector<ConvPath> conv_candidates(const ConvCall& call, const MathFlags& flags);
// `time_us(path)` runs the call through `path` and returns its time; it is
// called only on a key's first use, never when `time_us` is empty, and
// without the tuning lock held; what it throws reaches the caller, untuned.
ConvPath tuned_conv_path(const ConvCall& call, const MathFlags& flags, const std::function<double(ConvPath)>& time_us);
bool conv_tuning_enabled();  // IFX_CONV_TUNING, read once per process (default on)
void clear_conv_tuning();    // forgets every tuned choice, of convs and of linear layers

// The same for ifx::linear_act: the first call of each (rows, features, dtype,
// bias, activation, matmul TF32 flag, GPU) times linear_candidates (the rules'
// choice first; split-K only while the layer's output tiles leave SMs idle, the
// case it is for). Off unless IFX_LINEAR_TUNING=1: its timing has not yet run
// on a GPU (docs/fusion.md, Kernels).
std::vector<LinearPath> linear_candidates(const LinearCall& call, const MathFlags& flags);
LinearPath tuned_linear_path(const LinearCall& call, const MathFlags& flags,
                             const std::function<double(LinearPath)>& time_us);
bool linear_tuning_enabled();  // IFX_LINEAR_TUNING, read once per process (default off)

// The override in force: the environment's, unless a test or benchmark set
// another with set_kernel_override (process-wide; reset restores the
// environment's).
KernelOverride current_override();
void set_kernel_override(const KernelOverride& override);
void reset_kernel_override();

// The path the last CUDA call of `op` ("conv2d_act", "linear_act",
// "squeeze_excite" or "max_pool2d") took on
// this thread, "" before any: tests assert what they exercised with it.
void record_path(ConvPath path);
void record_path(LinearPath path);
void record_path(SqueezeExcitePath path);
void record_path(MaxPoolPath path);
std::string last_path(const std::string& op);

}  // namespace ifx::ops
