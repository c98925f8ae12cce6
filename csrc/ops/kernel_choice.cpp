#include "kernel_choice.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "kernels/shapes.h"

namespace ifx::ops {
namespace {

using kernels::Activation;
using kernels::ElementType;

bool is_16_bit(ElementType type) { return type == ElementType::kFloat16 || type == ElementType::kBFloat16; }

int as_int(int64_t v) { return v > 2147483647 ? 2147483647 : static_cast<int>(v); }

// --- thresholds (docs/benchmarks.md, "Kernel choice") -------------------------------------------

// Our depthwise kernel is faster than cuDNN + the epilogue everywhere but for
// 16-bit channels_last calls over 2^20 outputs.
constexpr int64_t kDepthwise16BitChannelsLastMaxOutputs = int64_t(1) << 20;

// The few-rows matmul reads the whole input once per output feature: faster
// than cuBLAS / cuDNN while the input is at most 8 KB.
constexpr int64_t kFewRowsMaxInputBytes = 8192;

// fp32 linear layers with few 64x64 output tiles (the classifiers at batch 64:
// 16-20 tiles) leave most SMs idle in one block per tile, and cuBLAS's exact
// fp32 kernel for them (sgemm_largek_lds64) took 26 us a layer on
// mobilenet_v3_large at batch 64 (H200, docs/benchmarks.md, "Fourteenth GPU
// session"): ImplicitGemmSplitK cuts the reduction into parts (CUTLASS deals
// each part every parts-th block of the tile's 8 features), at least
// kSplitKMinSliceFeatures features a part, aiming at kSplitKTargetBlocks blocks.
// No rule takes it yet: it has not run on a GPU; benchmarks/linear_layers.py
// times it beside cuBLAS, and the rule comes from that table.
constexpr int64_t kSplitKTile = 64;  // the small implicit-GEMM tile
constexpr int64_t kSplitKTargetBlocks = 256;
constexpr int64_t kSplitKMinSliceFeatures = 64;

// The pointwise kernel wins where the cuDNN call is mostly launch and tail:
// few pixels in all and a small product.
constexpr int64_t kPointwiseMaxPixels = 4096;
constexpr int64_t kPointwiseTensorCoreMaxWork = int64_t(16) << 20;
constexpr int64_t kPointwiseTensorCoreSinglePixelMaxWork = int64_t(8) << 20;
constexpr int64_t kPointwiseMaxWork = int64_t(32) << 20;
constexpr int64_t kPointwiseMinInChannels = 32;
constexpr int64_t kPointwiseNarrowingMaxPixels = 1024;
constexpr int64_t kPointwiseNarrowingMaxWork = int64_t(64) << 20;

// --- what each kernel covers -------------------------------------------------------------------

bool is_depthwise(const ConvCall& c) {
  return c.groups > 1 && c.groups == c.in_channels && c.out_channels == c.groups;
}

bool is_1x1_unpadded(const ConvCall& c) {
  return c.groups == 1 && c.kernel_h == 1 && c.kernel_w == 1 && c.pad_h == 0 && c.pad_w == 0;
}

// A 1x1 conv of a 1x1 map is a [batch, in] x [out, in]^T product in either
// memory format.
bool is_pointwise_on_single_pixel(const ConvCall& c) { return is_1x1_unpadded(c) && c.in_h == 1 && c.in_w == 1; }

// A 1x1 conv with stride 1 is a product over the pixels.
bool is_pointwise(const ConvCall& c) { return is_1x1_unpadded(c) && c.stride_h == 1 && c.stride_w == 1; }

// A dense channels_last conv over fewer input channels than one 16-byte
// vector holds (an image's 3): cuDNN takes slow kernels for such convs
// (resnet50's fp32 stem at batch 64: 368 of 3,966 us, H100, docs/benchmarks.md)
// and ours need whole vectors, so ChannelPadded pads them with zeros first.
// Elements of the call's type in one 16-byte vector.
int64_t channels_per_vector(const ConvCall& c) { return 16 / kernels::element_size(c.dtype); }

bool channel_padding_applies(const ConvCall& c) {
  return c.groups == 1 && c.channels_last && c.dtype != ElementType::kFloat64 && c.in_channels < channels_per_vector(c);
}

bool few_rows_supported(int64_t rows, int64_t in_features, int64_t out_features) {
  return rows <= kernels::kFewRowsMax &&
         kernels::few_rows_matmul_supported({as_int(rows), as_int(in_features), as_int(out_features)});
}

int64_t split_k_output_tiles(const LinearCall& c) {
  return ((c.rows + kSplitKTile - 1) / kSplitKTile) * ((c.out_features + kSplitKTile - 1) / kSplitKTile);
}

bool few_rows_kernel_is_faster(int64_t rows, int64_t in_features, ElementType dtype) {
  return rows * in_features * kernels::element_size(dtype) <= kFewRowsMaxInputBytes;
}

// cuDNN's fused conv + bias (+ residual) + relu: one kernel where cuDNN's
// runtime fusion finds an engine, never more than conv + epilogue. It needs a
// bias (ATen materializes a zero one otherwise) and fp32 / fp16 (bf16 and fp64
// have no fused engine), dense convs only (optimize_for_inference's use of it
// on depthwise layers doubled MobileNetV3's batch-64 fp16 GPU time), and a
// residual on the 16-byte grid (the fused engines are picked for aligned operands).
bool cudnn_fuses_relu(const ConvCall& c, const MathFlags& flags) {
  const bool dtype_fits = c.dtype == ElementType::kFloat32 || c.dtype == ElementType::kFloat16;
  return c.activation == Activation::kRelu && c.groups == 1 && c.has_bias && dtype_fits &&
         (!c.has_residual || c.residual_aligned) && flags.cudnn_enabled;
}

bool pointwise_kernel_is_faster(const ConvCall& c, bool relu_fused_by_cudnn, KernelPolicy policy) {
  if (policy != KernelPolicy::kAuto) return policy == KernelPolicy::kAlways;
  const int64_t map_size = c.in_h * c.in_w;
  const int64_t pixels = c.batch * map_size;
  if (pixels > kPointwiseMaxPixels) return false;
  const int64_t work = pixels * c.in_channels * c.out_channels;
  const bool narrowing = c.in_channels >= 4 * c.out_channels;
  if (is_16_bit(c.dtype)) {
    if (relu_fused_by_cudnn) return false;
    if (map_size == 1) return !narrowing && work <= kPointwiseTensorCoreSinglePixelMaxWork;
    return work <= kPointwiseTensorCoreMaxWork;
  }
  return (narrowing && pixels <= kPointwiseNarrowingMaxPixels && work <= kPointwiseNarrowingMaxWork) ||
         (c.in_channels >= kPointwiseMinInChannels && work <= kPointwiseMaxWork);
}

kernels::ImplicitGemmConvShape implicit_gemm_shape(const ConvCall& c) {
  return {as_int(c.batch),    as_int(c.in_h),       as_int(c.in_w),       as_int(c.in_channels), as_int(c.out_channels),
          as_int(c.out_h),    as_int(c.out_w),      as_int(c.kernel_h),   as_int(c.kernel_w),    as_int(c.stride_h),
          as_int(c.stride_w), as_int(c.pad_h),      as_int(c.pad_w),      as_int(c.dilation_h),  as_int(c.dilation_w)};
}

// CUTLASS's implicit GEMM reads NHWC activations and a KRSC weight in place
// (the op makes an NCHW input channels_last first, one copy at a model's
// first conv), aligned for its 16-byte accesses.
bool implicit_gemm_covers(const ConvCall& c, const MathFlags& flags) {
  return c.kernels_apply && c.groups == 1 && c.channels_last && c.weight_channels_last && c.operands_aligned &&
         kernels::implicit_gemm_conv_supported(c.dtype, implicit_gemm_shape(c), implicit_gemm_math(c, flags));
}

// A 1x1 stride-1 conv over NHWC activations is the product [pixels, C] x
// [K, C]^T, which the Hopper GEMM reads in place (any dense 1x1 weight is
// [K, C]); its copies need 16-byte aligned operands.
bool hopper_gemm_covers(const ConvCall& c, const MathFlags& flags) {
  return c.kernels_apply && flags.hopper_gemm && is_pointwise(c) && c.channels_last && c.operands_aligned &&
         kernels::hopper_gemm_supported(c.dtype, implicit_gemm_math(c, flags), hopper_gemm_shape(c));
}

// cuDNN's graph (conv_fprop, then bias, residual and activation as pointwise nodes) can be asked
// for: a dense or depthwise conv, an NHWC output over a KRSC weight (what cuDNN's fused engines
// read), fp16, bf16 or fp32, and an activation cuDNN's pointwise modes spell (all but mish). No
// engine that converts its inputs down, and in fp32 only exact ones: cuDNN's fused TF32 engines cost
// whole models 6-8x eager's error (cudnn_graph_conv_cuda.cpp, barred_numerics). Not where torch is
// asked for deterministic cuDNN: the graph does not choose its engines by that.
// Whether cuDNN has an engine for the graph is known only by building it, so the rules never pick
// the path: tuning times it.
bool cudnn_graph_covers(const ConvCall& c, const MathFlags& flags) {
  const bool type_fits = is_16_bit(c.dtype) || c.dtype == ElementType::kFloat32;
  return c.kernels_apply && flags.cudnn_enabled && flags.cudnn_graph && !flags.cudnn_deterministic &&
         (c.groups == 1 || is_depthwise(c)) &&
         c.channels_last && c.weight_channels_last && c.operands_aligned && (!c.has_residual || c.residual_aligned) &&
         type_fits && c.activation != Activation::kMish;
}

bool depthwise_kernel_is_faster(const ConvCall& c) {
  if (!is_16_bit(c.dtype) || !c.channels_last) return true;
  return c.batch * c.out_channels * c.out_h * c.out_w <= kDepthwise16BitChannelsLastMaxOutputs;
}

// Whether `path` can compute the call at all.
bool covers(ConvPath path, const ConvCall& c, const MathFlags& flags) {
  switch (path) {
    case ConvPath::kAten: return true;
    case ConvPath::kDepthwise: return c.kernels_apply && is_depthwise(c) && kernels::depthwise_supported(depthwise_shape(c));
    case ConvPath::kDepthwiseTwoRows:
      return c.kernels_apply && is_depthwise(c) &&
             kernels::depthwise_two_rows_supported(depthwise_shape(c), kernels::element_size(c.dtype), c.operands_aligned);
    case ConvPath::kDepthwiseSharedTile:
      return c.kernels_apply && is_depthwise(c) &&
             kernels::depthwise_shared_tile_supported(depthwise_shape(c), kernels::element_size(c.dtype),
                                                      c.operands_aligned);
    case ConvPath::kChannelPadded: return c.kernels_apply && channel_padding_applies(c);
    case ConvPath::kFewRowsMatmul:
      return c.kernels_apply && is_pointwise_on_single_pixel(c) && few_rows_supported(c.batch, c.in_channels, c.out_channels);
    case ConvPath::kPointwise:
      return c.kernels_apply && is_pointwise(c) &&
             kernels::pointwise_conv_supported({as_int(c.batch), as_int(c.in_channels), as_int(c.out_channels),
                                                as_int(c.in_h * c.in_w), c.channels_last});
    case ConvPath::kCudnnFusedRelu: return c.kernels_apply && cudnn_fuses_relu(c, flags);
    case ConvPath::kCudnnThenEpilogue: return c.kernels_apply;
    case ConvPath::kCudnnGraph: return cudnn_graph_covers(c, flags);
    case ConvPath::kImplicitGemm:
    case ConvPath::kImplicitGemmSmall: return implicit_gemm_covers(c, flags);
    case ConvPath::kHopperGemm64x64:
    case ConvPath::kHopperGemm64x128:
    case ConvPath::kHopperGemm128x256: return hopper_gemm_covers(c, flags);
  }
  return false;
}

bool covers(LinearPath path, const LinearCall& c) {
  switch (path) {
    case LinearPath::kAten: return true;
    case LinearPath::kFewRowsMatmul: return c.kernels_apply && few_rows_supported(c.rows, c.in_features, c.out_features);
    case LinearPath::kCublas: return c.kernels_apply && c.activation == Activation::kNone;
    case LinearPath::kCublasThenActivation: return c.kernels_apply && c.activation != Activation::kNone;
    case LinearPath::kImplicitGemmSplitK:
      return c.kernels_apply && c.dtype == ElementType::kFloat32 && linear_split_k_slices(c) >= 2 &&
             kernels::implicit_gemm_conv_supported(c.dtype, linear_as_conv_shape(c), kernels::ConvMath::kExact);
  }
  return false;
}

// An unset or empty variable is auto.
KernelPolicy parse_kernel_policy(const char* variable) {
  const char* value = std::getenv(variable);
  return kernel_policy_named(value == nullptr || *value == '\0' ? "auto" : value, variable);
}

// "name, name, ..." of a path list's X-macro.
#define IFX_PATH_TEXT(name, text) names += std::string(names.empty() ? "" : ", ") + text;
std::string conv_path_names() {
  std::string names;
  IFX_CONV_PATHS(IFX_PATH_TEXT)
  return names;
}
std::string linear_path_names() {
  std::string names;
  IFX_LINEAR_PATHS(IFX_PATH_TEXT)
  return names;
}
#undef IFX_PATH_TEXT

// IFX_CONV_PATH / IFX_LINEAR_PATH: unset, empty or "auto" is no override; an unknown name is refused.
template <typename Path>
std::optional<Path> parse_path_variable(const char* variable, std::optional<Path> (*named)(const std::string&),
                                        const std::string& names) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0' || std::string_view(value) == "auto") return std::nullopt;
  const std::optional<Path> path = named(value);
  TORCH_CHECK(path.has_value(), variable, " must be auto or one of ", names, ", not '", value, "'");
  return path;
}

std::mutex override_mutex;
std::shared_ptr<const KernelOverride> forced_override;  // set by set_kernel_override

thread_local const char* last_conv_path = "";
thread_local const char* last_linear_path = "";
thread_local const char* last_squeeze_excite_path = "";
thread_local const char* last_max_pool_path = "";

}  // namespace

kernels::DepthwiseShape depthwise_shape(const ConvCall& c) {
  const auto i = [](int64_t v) { return static_cast<int>(v); };
  return {i(c.batch),    i(c.in_channels), i(c.in_h),     i(c.in_w),  i(c.out_h),
          i(c.out_w),    i(c.kernel_h),    i(c.kernel_w), i(c.stride_h), i(c.stride_w),
          i(c.pad_h),    i(c.pad_w),       i(c.dilation_h), i(c.dilation_w), c.channels_last};
}

// One path_name per op's path list: a switch over its X-macro, `PathEnum`
// naming the enum inside each function.
#define IFX_PATH_CASE(name, text) \
  case PathEnum::k##name:         \
    return text;
#define IFX_DEFINE_PATH_NAME(Enum, PATHS) \
  const char* path_name(Enum path) {      \
    using PathEnum = Enum;                \
    switch (path) { PATHS(IFX_PATH_CASE) } \
    return "";                            \
  }
IFX_DEFINE_PATH_NAME(ConvPath, IFX_CONV_PATHS)
IFX_DEFINE_PATH_NAME(LinearPath, IFX_LINEAR_PATHS)
IFX_DEFINE_PATH_NAME(SqueezeExcitePath, IFX_SQUEEZE_EXCITE_PATHS)
IFX_DEFINE_PATH_NAME(MaxPoolPath, IFX_MAX_POOL_PATHS)
#undef IFX_DEFINE_PATH_NAME
#undef IFX_PATH_CASE

std::optional<ConvPath> conv_path_named(const std::string& name) {
#define IFX_PATH_LOOKUP(enum_name, text) \
  if (name == text) return ConvPath::k##enum_name;
  IFX_CONV_PATHS(IFX_PATH_LOOKUP)
#undef IFX_PATH_LOOKUP
  return std::nullopt;
}

std::optional<LinearPath> linear_path_named(const std::string& name) {
#define IFX_PATH_LOOKUP(enum_name, text) \
  if (name == text) return LinearPath::k##enum_name;
  IFX_LINEAR_PATHS(IFX_PATH_LOOKUP)
#undef IFX_PATH_LOOKUP
  return std::nullopt;
}

KernelPolicy kernel_policy_named(std::string_view name, const char* what) {
  if (name == "auto") return KernelPolicy::kAuto;
  if (name == "always") return KernelPolicy::kAlways;
  TORCH_CHECK(name == "never", what, " must be auto, always or never, not '", name, "'");
  return KernelPolicy::kNever;
}

const KernelOverride& environment_override() {
  static const KernelOverride from_environment{
      parse_kernel_policy("IFX_POINTWISE_KERNEL"),
      parse_path_variable("IFX_CONV_PATH", &conv_path_named, conv_path_names()),
      parse_path_variable("IFX_LINEAR_PATH", &linear_path_named, linear_path_names()),
      parse_kernel_policy("IFX_SE_GATE_KERNEL")};
  return from_environment;
}

int64_t channel_padded_width(const ConvCall& c) {
  const int64_t vector = channels_per_vector(c);
  return (c.in_channels + vector - 1) / vector * vector;
}

ConvPath choose_conv_path(const ConvCall& c, const MathFlags& flags, const KernelOverride& override) {
  if (!c.kernels_apply) return ConvPath::kAten;
  if (override.conv.has_value() && covers(*override.conv, c, flags)) return *override.conv;
  if (covers(ConvPath::kDepthwise, c, flags) && depthwise_kernel_is_faster(c)) return ConvPath::kDepthwise;
  if (covers(ConvPath::kFewRowsMatmul, c, flags) && few_rows_kernel_is_faster(c.batch, c.in_channels, c.dtype)) {
    return ConvPath::kFewRowsMatmul;
  }
  const bool relu_fused_by_cudnn = cudnn_fuses_relu(c, flags);
  if (covers(ConvPath::kPointwise, c, flags) && pointwise_kernel_is_faster(c, relu_fused_by_cudnn, override.pointwise)) {
    return ConvPath::kPointwise;
  }
  if (relu_fused_by_cudnn) return ConvPath::kCudnnFusedRelu;
  if (implicit_gemm_covers(c, flags)) {
    return kernels::implicit_gemm_conv_tile(implicit_gemm_shape(c), flags.multiprocessors) == kernels::ConvTile::kLarge
               ? ConvPath::kImplicitGemm
               : ConvPath::kImplicitGemmSmall;
  }
  return ConvPath::kCudnnThenEpilogue;
}

kernels::HopperGemmShape hopper_gemm_shape(const ConvCall& c) {
  return {as_int(c.batch * c.in_h * c.in_w), as_int(c.in_channels), as_int(c.out_channels)};
}

kernels::HopperGemmTile hopper_gemm_tile(ConvPath path) {
  switch (path) {
    case ConvPath::kHopperGemm64x128: return kernels::HopperGemmTile::kTile64x128;
    case ConvPath::kHopperGemm128x256: return kernels::HopperGemmTile::kTile128x256;
    default: return kernels::HopperGemmTile::kTile64x64;
  }
}

kernels::ConvMath implicit_gemm_math(const ConvCall& c, const MathFlags& flags) {
  return c.dtype != ElementType::kFloat32 || flags.allow_tf32 ? kernels::ConvMath::kTf32 : kernels::ConvMath::kExact;
}

std::vector<ConvPath> conv_candidates(const ConvCall& c, const MathFlags& flags) {
  const ConvPath rules = choose_conv_path(c, flags, KernelOverride{});
  std::vector<ConvPath> paths = {rules};
  const auto consider = [&](ConvPath path) {
    if (path != rules && covers(path, c, flags)) paths.push_back(path);
  };
  if (!c.kernels_apply) return paths;
  consider(ConvPath::kDepthwise);
  consider(ConvPath::kDepthwiseTwoRows);
  consider(ConvPath::kDepthwiseSharedTile);
  if (few_rows_kernel_is_faster(c.batch, c.in_channels, c.dtype)) consider(ConvPath::kFewRowsMatmul);
  // The pointwise kernel measured 0.04-0.9x of cuDNN past a few thousand
  // pixels: not worth timing there.
  if (c.batch * c.in_h * c.in_w <= kPointwiseMaxPixels) consider(ConvPath::kPointwise);
  consider(ConvPath::kImplicitGemm);
  consider(ConvPath::kImplicitGemmSmall);
  // The Hopper GEMM tiles: each is the fastest on some 1x1 layers (TF32 at batch 64 on most of
  // them; docs/notes/hopper_gemm.md, "Measured"), and slower elsewhere, so all three are timed.
  consider(ConvPath::kHopperGemm64x64);
  consider(ConvPath::kHopperGemm64x128);
  consider(ConvPath::kHopperGemm128x256);
  consider(ConvPath::kCudnnFusedRelu);
  consider(ConvPath::kCudnnThenEpilogue);
  consider(ConvPath::kCudnnGraph);
  // Stems over an image's 3 channels: cuDNN's kernel for them took 368 of resnet50's 3,966 us
  // (fp32, batch 64; docs/benchmarks.md); padding to one 16-byte vector is timed against it.
  consider(ConvPath::kChannelPadded);
  return paths;
}

namespace {

// Everything a tuned choice depends on.
std::vector<int64_t> tuning_key(const ConvCall& c, const MathFlags& f) {
  return {static_cast<int64_t>(c.dtype), c.channels_last, c.batch, c.in_channels, c.in_h, c.in_w, c.out_channels,
          c.out_h, c.out_w, c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.pad_h, c.pad_w, c.dilation_h,
          c.dilation_w, c.groups, c.has_bias, c.has_residual, c.residual_aligned, c.weight_channels_last,
          c.operands_aligned, static_cast<int64_t>(c.activation), c.kernels_apply, f.cudnn_enabled, f.allow_tf32,
          f.multiprocessors, f.hopper_gemm, f.cudnn_graph, f.cudnn_deterministic, c.squeeze_hidden};
}

// The lock guards the maps only: it is never held while kernels are timed. Held
// across the timing, it hung eight threads calling one CUDA model at new shapes
// (tests/python/test_graph_replay.py, eight callers); no thread waits for
// another's timing now.
std::mutex tuning_mutex;
std::map<std::vector<int64_t>, ConvPath> tuned_conv_paths;
std::map<std::vector<int64_t>, LinearPath> tuned_linear_paths;
// One thread times at a time, so that timings do not share the GPU. That thread may tune a
// shape nested in its own timing: channel_padded's inner conv, when the outer call's timing
// first runs that path.
std::optional<std::thread::id> timing_thread;

// The path remembered for `key` in `known`; else, with a clock and no other thread timing, the
// fastest of `list_candidates()` (the rules' choice first, kept on ties), remembered; else the
// rules' choice, remembered for no one.
template <typename Path>
Path tuned_path(std::map<std::vector<int64_t>, Path>& known, const std::vector<int64_t>& key,
                const std::function<std::vector<Path>()>& list_candidates,
                const std::function<double(Path)>& time_us) {
  std::vector<Path> candidates;
  bool nested = false;
  {
    const std::lock_guard<std::mutex> lock(tuning_mutex);
    const auto found = known.find(key);
    if (found != known.end()) return found->second;  // every call after the first: no more work
    candidates = list_candidates();
    // Nothing remembered: a later call with a clock, or after another thread's timing, tunes.
    if (!time_us || candidates.size() == 1) return candidates.front();
    nested = timing_thread == std::this_thread::get_id();
    if (timing_thread.has_value() && !nested) return candidates.front();
    timing_thread = std::this_thread::get_id();
  }
  const auto timing_done = [&] {
    if (!nested) timing_thread.reset();
  };
  Path best = candidates.front();
  try {
    double best_us = time_us(best);
    for (size_t i = 1; i < candidates.size(); ++i) {
      const double us = time_us(candidates[i]);
      if (us < best_us) {
        best = candidates[i];
        best_us = us;
      }
    }
  } catch (...) {
    const std::lock_guard<std::mutex> lock(tuning_mutex);
    timing_done();
    throw;
  }
  const std::lock_guard<std::mutex> lock(tuning_mutex);
  timing_done();
  known.emplace(key, best);
  return best;
}

}  // namespace

ConvPath tuned_conv_path(const ConvCall& c, const MathFlags& flags, const std::function<double(ConvPath)>& time_us) {
  return tuned_path<ConvPath>(tuned_conv_paths, tuning_key(c, flags), [&] { return conv_candidates(c, flags); },
                              time_us);
}

std::vector<LinearPath> linear_candidates(const LinearCall& c, const MathFlags& flags) {
  const LinearPath rules = choose_linear_path(c, KernelOverride{});
  std::vector<LinearPath> paths = {rules};
  for (LinearPath path : linear_paths_covering(c)) {
    if (path == rules || path == LinearPath::kAten) continue;
    // Split-K pays where one block per output tile leaves SMs idle; past that it only adds the
    // partial sums' traffic (and memory), so it is not worth timing.
    if (path == LinearPath::kImplicitGemmSplitK && split_k_output_tiles(c) >= flags.multiprocessors) continue;
    paths.push_back(path);
  }
  return paths;
}

LinearPath tuned_linear_path(const LinearCall& c, const MathFlags& flags,
                             const std::function<double(LinearPath)>& time_us) {
  const std::vector<int64_t> key = {static_cast<int64_t>(c.dtype), c.rows, c.in_features, c.out_features, c.has_bias,
                                    static_cast<int64_t>(c.activation), c.kernels_apply, c.matmul_tf32,
                                    flags.multiprocessors, flags.hopper_gemm};
  return tuned_path<LinearPath>(tuned_linear_paths, key, [&] { return linear_candidates(c, flags); }, time_us);
}

namespace {

// An environment switch, 1 or 0 (`unset` when the variable is not set), read once per process by its caller.
bool environment_switch(const char* name, const char* unset = "1") {
  const char* value = std::getenv(name);
  const std::string_view text = value == nullptr ? unset : value;
  TORCH_CHECK(text == "1" || text == "0", name, " must be 1 or 0, not '", text, "'");
  return text == "1";
}

}  // namespace

bool conv_tuning_enabled() {
  static const bool enabled = environment_switch("IFX_CONV_TUNING");
  return enabled;
}

bool linear_tuning_enabled() {
  static const bool enabled = environment_switch("IFX_LINEAR_TUNING", "0");
  return enabled;
}

bool cudnn_graph_enabled() {
  static const bool enabled = environment_switch("IFX_CUDNN_GRAPH");
  return enabled;
}

void clear_conv_tuning() {
  const std::lock_guard<std::mutex> lock(tuning_mutex);
  tuned_conv_paths.clear();
  tuned_linear_paths.clear();
}

int linear_split_k_slices(const LinearCall& c) {
  const int64_t most = std::min<int64_t>(kernels::kImplicitGemmSplitKMaxSlices, c.in_features / kSplitKMinSliceFeatures);
  if (most < 2) return 0;
  const int64_t tiles = split_k_output_tiles(c);
  return static_cast<int>(std::clamp<int64_t>((kSplitKTargetBlocks + tiles - 1) / tiles, 2, most));
}

kernels::ImplicitGemmConvShape linear_as_conv_shape(const LinearCall& c) {
  kernels::ImplicitGemmConvShape s{};
  s.batch = as_int(c.rows);
  s.in_h = s.in_w = s.out_h = s.out_w = 1;
  s.in_channels = as_int(c.in_features);
  s.out_channels = as_int(c.out_features);
  s.kernel_h = s.kernel_w = s.stride_h = s.stride_w = s.dilation_h = s.dilation_w = 1;
  s.pad_h = s.pad_w = 0;
  return s;
}

LinearPath choose_linear_path(const LinearCall& c, const KernelOverride& override) {
  if (!c.kernels_apply) return LinearPath::kAten;
  if (override.linear.has_value() && covers(*override.linear, c)) return *override.linear;
  if (covers(LinearPath::kFewRowsMatmul, c) && few_rows_kernel_is_faster(c.rows, c.in_features, c.dtype)) {
    return LinearPath::kFewRowsMatmul;
  }
  return c.activation == Activation::kNone ? LinearPath::kCublas : LinearPath::kCublasThenActivation;
}

// The gate kernel pays where x is big enough for the scale kernel's stream to gain more than the
// extra launch costs. Per block on an H200 (benchmarks/squeeze_excite_bandwidth.py, channels_last;
// docs/benchmarks.md, "Fourteenth GPU session"), gate + scale over the excite kernel:
// - fp32 (mobilenet_v3_large, batch 64): 0.83-0.99 from 12 MB of x up, 1.01 at 8.4 MB; batch 8
//   (1.1-4.2 MB): 0.91-1.06.
// - fp16 (efficientnet_b0, batch 64): 0.68-0.82 at 38.5-57.8 MB, 1.23-1.72 at 24.1 MB and below (the
//   16-bit scale stream ran at 2.0-2.7 TB/s there, the fp32 one at 4-5 TB/s); batch 8: 1.02-1.35.
// NCHW and float64 were not timed, so they keep the excite kernel (bfloat16 streams as float16 does).
constexpr int64_t kGateKernelMinBytesFloat32 = int64_t(8) << 20;
constexpr int64_t kGateKernelMinBytes16Bit = int64_t(32) << 20;

bool gate_kernel_pays(const kernels::SqueezeExciteShape& s, ElementType type) {
  if (!s.channels_last || !(is_16_bit(type) || type == ElementType::kFloat32)) return false;
  const int64_t bytes = int64_t(s.batch) * s.channels * s.pixels * kernels::element_size(type);
  return bytes >= (is_16_bit(type) ? kGateKernelMinBytes16Bit : kGateKernelMinBytesFloat32);
}

namespace {
bool gate_kernel_chosen(const SqueezeExciteCall& c, const KernelOverride& override) {
  if (override.gate_kernel != KernelPolicy::kAuto) return override.gate_kernel == KernelPolicy::kAlways;
  return gate_kernel_pays(c.shape, c.dtype);
}
}  // namespace

SqueezeExcitePath choose_squeeze_excite_path(const SqueezeExciteCall& c, const KernelOverride& override) {
  if (!c.kernels_apply || !kernels::squeeze_excite_supported(c.shape)) return SqueezeExcitePath::kAten;
  return gate_kernel_chosen(c, override) ? SqueezeExcitePath::kThreeKernels : SqueezeExcitePath::kTwoKernels;
}

kernels::SqueezeExciteGates squeeze_excite_gates(SqueezeExcitePath path) {
  return path == SqueezeExcitePath::kThreeKernels || path == SqueezeExcitePath::kDepthwiseSqueezeGateKernel
             ? kernels::SqueezeExciteGates::kGateKernel
             : kernels::SqueezeExciteGates::kInExciteBlocks;
}

kernels::DepthwiseForm depthwise_form(ConvPath path) {
  switch (path) {
    case ConvPath::kDepthwiseTwoRows: return kernels::DepthwiseForm::kTwoRows;
    case ConvPath::kDepthwiseSharedTile: return kernels::DepthwiseForm::kSharedTile;
    default: return kernels::DepthwiseForm::kOneRow;
  }
}

SqueezeExcitePath choose_depthwise_squeeze_path(const ConvCall& conv, ConvPath conv_path,
                                                const SqueezeExciteCall& block, bool w1_aligned,
                                                const KernelOverride& override) {
  const SqueezeExcitePath alone = choose_squeeze_excite_path(block, override);
  const bool depthwise_kernel = conv_path == ConvPath::kDepthwise || conv_path == ConvPath::kDepthwiseTwoRows ||
                                conv_path == ConvPath::kDepthwiseSharedTile;
  if (alone == SqueezeExcitePath::kAten || !depthwise_kernel || !conv.kernels_apply || !conv.channels_last ||
      block.dtype != conv.dtype || !block.shape.channels_last || block.shape.channels != conv.out_channels) {
    return alone;
  }
  if (!kernels::depthwise_squeeze_supported(depthwise_shape(conv), kernels::element_size(conv.dtype),
                                            conv.operands_aligned, depthwise_form(conv_path), block.shape.hidden,
                                            w1_aligned)) {
    return alone;
  }
  return alone == SqueezeExcitePath::kThreeKernels ? SqueezeExcitePath::kDepthwiseSqueezeGateKernel
                                                   : SqueezeExcitePath::kDepthwiseSqueeze;
}

MaxPoolPath choose_max_pool_path(const MaxPoolCall& c) {
  return c.kernels_apply && kernels::max_pool_supported(c.shape) ? MaxPoolPath::kChannelsLast : MaxPoolPath::kAten;
}

std::vector<ConvPath> conv_paths_covering(const ConvCall& c, const MathFlags& flags) {
  std::vector<ConvPath> paths;
#define IFX_PATH_COVERS(name, text) \
  if (covers(ConvPath::k##name, c, flags)) paths.push_back(ConvPath::k##name);
  IFX_CONV_PATHS(IFX_PATH_COVERS)
#undef IFX_PATH_COVERS
  return paths;
}

std::vector<LinearPath> linear_paths_covering(const LinearCall& c) {
  std::vector<LinearPath> paths;
#define IFX_PATH_COVERS(name, text) \
  if (covers(LinearPath::k##name, c)) paths.push_back(LinearPath::k##name);
  IFX_LINEAR_PATHS(IFX_PATH_COVERS)
#undef IFX_PATH_COVERS
  return paths;
}

KernelOverride current_override() {
  const std::lock_guard<std::mutex> lock(override_mutex);
  return forced_override ? *forced_override : environment_override();
}

void set_kernel_override(const KernelOverride& override) {
  const std::lock_guard<std::mutex> lock(override_mutex);
  forced_override = std::make_shared<const KernelOverride>(override);
}

void reset_kernel_override() {
  const std::lock_guard<std::mutex> lock(override_mutex);
  forced_override.reset();
}

void record_path(ConvPath path) { last_conv_path = path_name(path); }
void record_path(LinearPath path) { last_linear_path = path_name(path); }
void record_path(SqueezeExcitePath path) { last_squeeze_excite_path = path_name(path); }
void record_path(MaxPoolPath path) { last_max_pool_path = path_name(path); }

std::string last_path(const std::string& op) {
  if (op == "conv2d_act") return last_conv_path;
  if (op == "linear_act") return last_linear_path;
  if (op == "squeeze_excite") return last_squeeze_excite_path;
  if (op == "max_pool2d") return last_max_pool_path;
  TORCH_CHECK(false, "ifx: no kernel path is recorded for '", op,
              "'; expected conv2d_act, linear_act, squeeze_excite or max_pool2d");
}

}  // namespace ifx::ops
