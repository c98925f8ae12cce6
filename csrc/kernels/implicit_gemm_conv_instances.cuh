// Internal to launch_implicit_gemm_conv: the CUTLASS kernel configurations,
// the functor that carries our activation into CUTLASS's epilogue, and the
// launch every per-type file (implicit_gemm_conv_<type>.cu) instantiates.
// Only those files include it: they are the ones that pay for CUTLASS's
// templates, one element type or math mode each so that they build in
// parallel.
#pragma once

#include <cuda_runtime.h>

#include "cutlass/conv/conv2d_problem_size.h"
#include "cutlass/conv/device/implicit_gemm_convolution.h"
#include "cutlass/conv/kernel/default_conv2d_fprop_with_broadcast.h"
#include "cutlass/cutlass.h"
#include "cutlass/device_kernel.h"
#include "cutlass/epilogue/thread/linear_combination_bias_elementwise.h"
#include "cutlass/functional.h"
#include "cutlass/gemm/threadblock/threadblock_swizzle.h"
#include "cutlass/layout/tensor.h"

#include "activation_math.cuh"
#include "cutlass_launch.cuh"
#include "implicit_gemm_conv.h"
#include "implicit_gemm_conv_entry.h"

namespace ifx::kernels::implicit_gemm_conv_detail {

// CUTLASS's elementwise op for LinearCombinationBiasElementwise. Because it
// has a nested Arguments, CUTLASS stores one in the epilogue's params and
// calls op(value, args): the activation is a kernel argument, so one kernel
// serves every activation (a uniform switch per element, as in our other
// kernels).
struct RuntimeActivation {
  struct Arguments {
    Activation activation = Activation::kNone;
  };

  // Marks the op as expensive (exp, tanh, log1p behind the switch): CUTLASS
  // then keeps its epilogue loop rolled instead of inlining the switch once
  // per output fragment, which keeps code size and compile time down.
  static constexpr bool kIsHeavy = true;

  // CUTLASS calls this from __host__ __device__ code; it only ever runs on
  // the device.
  template <typename T> CUTLASS_HOST_DEVICE T operator()(T value, const Arguments& args) const {
#if defined(__CUDA_ARCH__)
    return activate(args.activation, value);
#else
    (void)args;
    return value;
#endif
  }
};

// One kernel: implicit-GEMM fprop, NHWC activations, KRSC filter, Sm80
// instructions (which sm_90 runs), kOptimized iterators, and the epilogue
// z = activation(1 * accumulator + beta * residual + bias): beta is 1 with a
// residual and 0 without (CUTLASS then never reads the source), and a null
// bias pointer reads as zeros. `kAlignment` is elements per global access
// along the channels, for A, B, the output, residual and bias alike.
template <typename Element, typename OpClass, typename ThreadblockShape, typename WarpShape,
          typename InstructionShape, int kStages, int kAlignment, typename Swizzle>
struct ConvConfig {
  using Layout = cutlass::layout::TensorNHWC;
  using OutputOp = cutlass::epilogue::thread::LinearCombinationBiasElementwise<
      Element,  // residual (CUTLASS's C)
      float,    // accumulator
      float,    // epilogue math
      Element,  // output (Z)
      Element,  // pre-activation output (T), not stored
      kAlignment, RuntimeActivation, cutlass::plus<float>, /*StoreT=*/false,
      Element>;  // bias

  // StrideSupport::kUnity concerns the output iterator (it is for strided
  // dgrad); fprop's input iterators take any convolution stride.
  using Kernel = typename cutlass::conv::kernel::DefaultConv2dFpropWithBroadcast<
      Element, Layout, Element, Layout, Element, Layout, float, OpClass, cutlass::arch::Sm80, ThreadblockShape,
      WarpShape, InstructionShape, OutputOp, Swizzle, kStages, cutlass::arch::OpMultiplyAdd,
      cutlass::conv::IteratorAlgorithm::kOptimized, cutlass::conv::StrideSupport::kUnity, kAlignment,
      kAlignment>::Kernel;

  static constexpr int kAccessElements = kAlignment;
  // implicit_gemm_conv_alignment (shapes.h) promises callers these widths;
  // the CUDA-core path ignores the alignment arguments and picks its own,
  // hence the checks.
  static_assert(Kernel::Mma::IteratorA::AccessType::kElements == kAlignment, "input access width");
  static_assert(Kernel::Mma::IteratorB::AccessType::kElements == kAlignment, "weight access width");
  static_assert(Kernel::Epilogue::OutputTileIterator::kElementsPerAccess == kAlignment, "output access width");
};

using cutlass::gemm::GemmShape;
template <int N> using Swizzle = cutlass::gemm::threadblock::GemmIdentityThreadblockSwizzle<N>;

// fp16 / bf16 on 16x8x16 MMAs, 16-byte accesses. The large tile's 3 stages
// (96 KiB of shared memory) still fit the 99 KiB of sm_86 / sm_89. The small
// tile (4 warps of 32x32) runs 4 stages: small problems put few blocks on an
// SM, so each block has to hide its own load latency.
template <typename Element>
using HalfLarge = ConvConfig<Element, cutlass::arch::OpClassTensorOp, GemmShape<128, 128, 64>, GemmShape<64, 64, 64>,
                             GemmShape<16, 8, 16>, 3, 8, Swizzle<4>>;
template <typename Element>
using HalfSmall = ConvConfig<Element, cutlass::arch::OpClassTensorOp, GemmShape<64, 64, 64>, GemmShape<32, 32, 64>,
                             GemmShape<16, 8, 16>, 4, 8, Swizzle<1>>;

// fp32 on TF32 16x8x8 MMAs (plain TF32: operands rounded to TF32 once, no
// 3xTF32 correction), 16-byte accesses; same tile footprints as above.
using Tf32Large = ConvConfig<float, cutlass::arch::OpClassTensorOp, GemmShape<128, 128, 32>, GemmShape<64, 64, 32>,
                             GemmShape<16, 8, 8>, 3, 4, Swizzle<4>>;
using Tf32Small = ConvConfig<float, cutlass::arch::OpClassTensorOp, GemmShape<64, 64, 32>, GemmShape<32, 32, 32>,
                             GemmShape<16, 8, 8>, 4, 4, Swizzle<1>>;

// fp32 FFMA, one element per access (CUTLASS's CUDA-core mainloop
// transposes A and B into shared memory element by element, so it takes any
// channel count): 8 warps of 32x64 for the large tile, 4 warps of 32x32 for
// the small one; both need under 48 KiB of shared memory.
using F32ExactLarge = ConvConfig<float, cutlass::arch::OpClassSimt, GemmShape<128, 128, 8>, GemmShape<32, 64, 8>,
                                 GemmShape<1, 1, 1>, 4, 1, Swizzle<4>>;
using F32ExactSmall = ConvConfig<float, cutlass::arch::OpClassSimt, GemmShape<64, 64, 8>, GemmShape<32, 32, 8>,
                                 GemmShape<1, 1, 1>, 5, 1, Swizzle<1>>;

// CUTLASS's arguments for `operands` on Config's kernel.
template <typename Config> typename Config::Kernel::Arguments conv_arguments(const ConvOperands& operands) {
  using Kernel = typename Config::Kernel;
  using Element = typename Kernel::ElementA;
  using Layout = typename Config::Layout;
  const ImplicitGemmConvShape& s = operands.shape;

  const cutlass::conv::Conv2dProblemSize problem(
      s.batch, s.in_h, s.in_w, s.in_channels, s.out_channels, s.kernel_h, s.kernel_w, s.out_h, s.out_w, s.pad_h,
      s.pad_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, cutlass::conv::Mode::kCrossCorrelation,
      operands.split_k_slices, /*groups=*/1);

  // CUTLASS's tensor refs are to mutable elements even where it only reads.
  auto mutable_elements = [](const void* p) { return static_cast<Element*>(const_cast<void*>(p)); };
  const Layout input_layout = Layout::packed({s.batch, s.in_h, s.in_w, s.in_channels});
  const Layout weight_layout = Layout::packed({s.out_channels, s.kernel_h, s.kernel_w, s.in_channels});
  const Layout output_layout = Layout::packed({s.batch, s.out_h, s.out_w, s.out_channels});
  const Epilogue& epilogue = operands.epilogue;

  const typename Config::OutputOp::Params output_op(
      /*alpha=*/1.0f, /*beta=*/epilogue.residual != nullptr ? 1.0f : 0.0f,
      RuntimeActivation::Arguments{epilogue.activation});
  return typename Kernel::Arguments(
      problem, {mutable_elements(operands.input), input_layout}, {mutable_elements(operands.weight), weight_layout},
      {mutable_elements(epilogue.residual), output_layout}, {static_cast<Element*>(operands.output), output_layout},
      output_op, operands.split_k_slices > 1 ? cutlass::conv::SplitKMode::kParallel : cutlass::conv::SplitKMode::kSerial,
      /*ptr_Vector=*/const_cast<void*>(epilogue.bias),  // one bias row for all output rows (ldr = 0)
      /*ptr_Tensor=*/nullptr, /*ldr=*/0, /*ldt=*/0);
}

// Launches Config's kernel on `operands`, whose shape and pointers the
// dispatcher has already checked; CUTLASS's own checks run again here, and
// any refusal means nothing is launched.
template <typename Config> cudaError_t run_conv(const ConvOperands& operands, cudaStream_t stream) {
  using Kernel = typename Config::Kernel;
  using Device = cutlass::conv::device::ImplicitGemmConvolution<Kernel>;
  const typename Kernel::Arguments arguments = conv_arguments<Config>(operands);

  if (Device::can_implement(arguments) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
  // In parallel split-K every part runs the epilogue: a bias would be added once per part.
  const Epilogue& epilogue = operands.epilogue;
  if (operands.split_k_slices > 1 &&
      (epilogue.bias != nullptr || epilogue.residual != nullptr || epilogue.activation != Activation::kNone)) {
    return cudaErrorInvalidValue;
  }
  // Parallel split-K's workspace is the partial sums, which the caller passed
  // as the output; with one slice there is none.
  const size_t partial_bytes =
      operands.split_k_slices > 1
          ? sizeof(float) * size_t(implicit_gemm_conv_split_k_partials(operands.shape, operands.split_k_slices))
          : 0;
  if (Device::get_workspace_size(arguments) != partial_bytes) return cudaErrorInvalidValue;

  const typename Kernel::Params params(arguments, /*semaphore=*/nullptr);
  const dim3 grid = typename Kernel::ThreadblockSwizzle().get_grid_shape(params.grid_tiled_shape);
  const dim3 block(Kernel::kThreadCount, 1, 1);
  return launch_with_shared_memory(cutlass::Kernel<Kernel>, grid, block, int(sizeof(typename Kernel::SharedStorage)),
                                   stream, params);
}

}  // namespace ifx::kernels::implicit_gemm_conv_detail
