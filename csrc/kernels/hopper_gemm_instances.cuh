// Internal to launch_hopper_gemm: the CUTLASS 3 kernel configurations, the
// functor that carries our activation into CUTLASS's epilogue, and the launch
// every per-type file (hopper_gemm_<type>.cu) instantiates. Only those files
// include it: they pay for CUTLASS's templates, one element type each so that
// they build in parallel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/device_kernel.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

#include "activation_math.cuh"
#include "cutlass_launch.cuh"
#include "epilogue_device.cuh"
#include "hopper_gemm_entry.h"

// The warp-group MMAs and tensor-memory-access copies exist only in sm_90a
// code; for plain sm_90 CUTLASS compiles kernels that print an error and
// compute nothing. A build that targets 9.0 without the "a" stops here
// instead of shipping those.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "hopper_gemm kernels need sm_90a code: build for 9.0a (TORCH_CUDA_ARCH_LIST=9.0a, IFX_CUDA_ARCH=90a)"
#endif

// CUTLASS's device-side asserts are calls, and a call anywhere in a kernel
// makes ptxas serialize its warp-group MMAs (warning C7510). Release builds
// define NDEBUG (setup.py and CMake do).
#if defined(__CUDA_ARCH__) && !defined(NDEBUG)
#warning "hopper_gemm kernels built without NDEBUG: ptxas serializes their MMAs"
#endif

namespace ifx::kernels::hopper_gemm_detail {

// The activation, a kernel argument: CUTLASS's epilogue visitor passes a
// compute functor's nested Arguments to it with every fragment, so one kernel
// serves the whole activation table (a uniform switch, as in our other kernels).
struct ActivationArguments {
  Activation activation = Activation::kNone;
};

template <typename T> struct RuntimeActivation {
  using Arguments = ActivationArguments;
  // CUTLASS declares its functors __host__ __device__; this one only runs on the device.
  CUTLASS_HOST_DEVICE T operator()(const T& value, const Arguments& args) const {
#if defined(__CUDA_ARCH__)
    return activate(args.activation, value);
#else
    (void)args;
    return value;
#endif
  }
};

// The visitor calls the functor on whole fragments, in an epilogue that
// CUTLASS unrolls: the switch is taken once per fragment (with_activation),
// around a loop over its elements, rather than once per element. The time
// these kernels lost with silu came from its division, fixed in
// activation_math.cuh (docs/notes/hopper_gemm.md, "Measured").
template <typename T, int N> struct RuntimeActivation<cutlass::Array<T, N>> {
  using Arguments = ActivationArguments;
  CUTLASS_HOST_DEVICE cutlass::Array<T, N> operator()(const cutlass::Array<T, N>& values, const Arguments& args) const {
#if defined(__CUDA_ARCH__)
    cutlass::Array<T, N> out = values;
    with_activation<T>(args.activation, [&](auto activate_one) {
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < N; ++i) out[i] = activate_one(values[i]);
    });
    return out;
#else
    (void)args;
    return values;
#endif
  }
};

// One kernel: D = activation(1 * (A . B^T) + bias[col] + beta * C), A
// [rows, depth] row-major, B [cols, depth] (CUTLASS's column-major K x N),
// C (the residual) and D [rows, cols] row-major; beta is 1 with a residual
// and 0 without (CUTLASS then never loads C). Persistent: one block per SM
// walks the output tiles. Cluster 1x1x1: the products are mostly too small
// for multicast to pay, and a plain launch suffices.
template <typename Element, typename TileShape, typename KernelSchedule, typename EpilogueSchedule>
struct GemmConfig {
  static constexpr int kAlignment = 16 / int(sizeof(Element));
  using ClusterShape = cute::Shape<cute::_1, cute::_1, cute::_1>;
  using Fusion =
      cutlass::epilogue::fusion::LinCombPerColBiasEltAct<RuntimeActivation, Element, float, Element, Element, float>;
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, Element, cutlass::layout::RowMajor, kAlignment,
      Element, cutlass::layout::RowMajor, kAlignment, EpilogueSchedule, Fusion>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, cutlass::layout::RowMajor, kAlignment, Element,
      cutlass::layout::ColumnMajor, kAlignment, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, Mainloop, Epilogue>;
};

// The tiles of HopperGemmTile (shapes.h); the depth of a tile step is 128
// bytes of each operand row (64 16-bit or 32 fp32 elements), the width of the
// shared-memory swizzle.
template <typename Element> struct Tiles {
  static constexpr int kDepth = 128 / int(sizeof(Element));
  using Depth = cute::Int<kDepth>;
  using PingPong = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
  using Cooperative = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
  using Tile64x64 = GemmConfig<Element, cute::Shape<cute::_64, cute::_64, Depth>, PingPong,
                               cutlass::epilogue::TmaWarpSpecialized>;
  using Tile64x128 = GemmConfig<Element, cute::Shape<cute::_64, cute::_128, Depth>, PingPong,
                                cutlass::epilogue::TmaWarpSpecialized>;
  using Tile128x256 = GemmConfig<Element, cute::Shape<cute::_128, cute::_256, Depth>, Cooperative,
                                 cutlass::epilogue::TmaWarpSpecializedCooperative>;
};

// CUTLASS's arguments for `operands` on Config's kernel.
template <typename Config> typename Config::Kernel::Arguments gemm_arguments(const GemmOperands& operands) {
  using Kernel = typename Config::Kernel;
  using Element = typename Kernel::ElementA;
  const int64_t rows = operands.shape.rows, depth = operands.shape.depth, cols = operands.shape.cols;
  const Epilogue& epilogue = operands.epilogue;

  typename Kernel::Arguments arguments{};
  arguments.mode = cutlass::gemm::GemmUniversalMode::kGemm;
  arguments.problem_shape = {int(rows), int(cols), int(depth), 1};
  arguments.mainloop.ptr_A = static_cast<const Element*>(operands.a);
  arguments.mainloop.dA = cute::make_stride(depth, cute::Int<1>{}, rows * depth);
  arguments.mainloop.ptr_B = static_cast<const Element*>(operands.b);
  arguments.mainloop.dB = cute::make_stride(depth, cute::Int<1>{}, cols * depth);
  // Without a residual C is never read (beta = 0), but CUTLASS still builds
  // its copy descriptor: the output, of the same shape, stands in.
  arguments.epilogue.ptr_C =
      static_cast<const Element*>(epilogue.residual != nullptr ? epilogue.residual : operands.out);
  arguments.epilogue.dC = cute::make_stride(cols, cute::Int<1>{}, rows * cols);
  arguments.epilogue.ptr_D = static_cast<Element*>(operands.out);
  arguments.epilogue.dD = cute::make_stride(cols, cute::Int<1>{}, rows * cols);
  auto& fusion = arguments.epilogue.thread;
  fusion.alpha = 1.0f;
  fusion.beta = epilogue.residual != nullptr ? 1.0f : 0.0f;
  fusion.bias_ptr = static_cast<const Element*>(epilogue.bias);  // null reads as zeros
  fusion.activation.activation = epilogue.activation;
  arguments.hw_info.sm_count = operands.multiprocessors;
  return arguments;
}

// Launches Config's kernel on `operands`, which the dispatcher has checked;
// CUTLASS's own checks run again here, and a refusal launches nothing.
template <typename Config> cudaError_t run_gemm(const GemmOperands& operands, cudaStream_t stream) {
  using Kernel = typename Config::Kernel;
  const typename Kernel::Arguments arguments = gemm_arguments<Config>(operands);
  if (!Kernel::can_implement(arguments)) return cudaErrorInvalidValue;
  // The persistent scheduler without split-K or stream-K needs no workspace.
  if (Kernel::get_workspace_size(arguments) != 0) return cudaErrorInvalidValue;
  const typename Kernel::Params params = Kernel::to_underlying_arguments(arguments, /*workspace=*/nullptr);
  const dim3 grid = Kernel::get_grid_shape(params);
  const dim3 block = Kernel::get_block_shape();
  return launch_with_shared_memory(cutlass::device_kernel<Kernel>, grid, block, Kernel::SharedStorageSize, stream,
                                   params);
}

template <typename Element> cudaError_t run_tile(HopperGemmTile tile, const GemmOperands& operands, cudaStream_t stream) {
  switch (tile) {
    case HopperGemmTile::kTile64x64: return run_gemm<typename Tiles<Element>::Tile64x64>(operands, stream);
    case HopperGemmTile::kTile64x128: return run_gemm<typename Tiles<Element>::Tile64x128>(operands, stream);
    case HopperGemmTile::kTile128x256: return run_gemm<typename Tiles<Element>::Tile128x256>(operands, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ifx::kernels::hopper_gemm_detail
