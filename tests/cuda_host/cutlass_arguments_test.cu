// The host half of the CUTLASS implicit-GEMM convolutions, run on the CPU
// (no kernel is launched, so no GPU is needed): for every kernel
// configuration of csrc/kernels/implicit_gemm_conv_instances.cuh and every
// shape of a list that implicit_gemm_conv_supported (shapes.h) accepts,
// CUTLASS's own can_implement accepts the arguments the launch builds and
// asks for the workspace the launch provides: none with one part, the
// partial sums with parallel split-K. Where the two disagreed, the launch
// would refuse a call the kernel choice had routed to it, and only a GPU run
// would show it.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/implicit_gemm_conv_instances.cuh"

namespace ifx::kernels::implicit_gemm_conv_detail {
namespace {

// batch, in_h, in_w, in_channels, out_channels, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w,
// pad_h, pad_w, dilation_h, dilation_w.
const std::vector<ImplicitGemmConvShape> kShapes = {
    {64, 56, 56, 64, 256, 56, 56, 1, 1, 1, 1, 0, 0, 1, 1},       // resnet50's 1x1 expansion
    {1, 7, 7, 960, 160, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1},           // mobilenet_v3_large's 7x7 projection, batch 1
    {64, 56, 56, 64, 64, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1},        // 3x3, stride 1
    {64, 56, 56, 128, 128, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1},      // 3x3, stride 2
    {64, 224, 224, 4, 64, 112, 112, 7, 7, 2, 2, 3, 3, 1, 1},     // resnet50's stem, channels padded to 4
    {64, 224, 224, 8, 16, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1},     // a 16-bit stem padded to 8 channels
    {2, 13, 11, 3, 5, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1},             // odd channels: exact fp32 only
    {3, 17, 19, 16, 24, 13, 15, 3, 3, 1, 1, 0, 0, 2, 2},         // dilation 2, no padding
    {1, 1, 1, 960, 1280, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1},          // a linear layer as a 1x1 conv
};

std::string describe(const ImplicitGemmConvShape& s) {
  return "n" + std::to_string(s.batch) + " " + std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + " c" +
         std::to_string(s.in_channels) + "->" + std::to_string(s.out_channels) + " k" + std::to_string(s.kernel_h) +
         " s" + std::to_string(s.stride_h) + " p" + std::to_string(s.pad_h) + "," + std::to_string(s.pad_w) + " d" +
         std::to_string(s.dilation_h) + "," + std::to_string(s.dilation_w) + " out " + std::to_string(s.out_h) + "x" +
         std::to_string(s.out_w);
}

// Arguments as run_conv builds them; the pointers only need CUTLASS's alignment.
template <typename Config> typename Config::Kernel::Arguments arguments(const ImplicitGemmConvShape& shape, int slices) {
  void* const aligned = reinterpret_cast<void*>(uintptr_t(1) << 12);
  ConvOperands operands{shape, aligned, aligned, aligned, Epilogue{}};
  operands.split_k_slices = slices;
  return conv_arguments<Config>(operands);
}

// How many of `shapes` the configuration covers; each must be one CUTLASS takes, without a workspace.
template <typename Config>
int check_config(ElementType type, ConvMath math, const std::vector<ImplicitGemmConvShape>& shapes = kShapes) {
  using Device = cutlass::conv::device::ImplicitGemmConvolution<typename Config::Kernel>;
  int covered = 0;
  for (const ImplicitGemmConvShape& shape : shapes) {
    if (!implicit_gemm_conv_supported(type, shape, math)) continue;
    ++covered;
    const auto args = arguments<Config>(shape, 1);
    EXPECT_EQ(Device::can_implement(args), cutlass::Status::kSuccess) << describe(shape);
    EXPECT_EQ(Device::get_workspace_size(args), 0u) << describe(shape);
  }
  return covered;
}

TEST(CutlassArguments, EveryConfigurationTakesTheShapesItIsRoutedTo) {
  EXPECT_GE((check_config<HalfLarge<cutlass::half_t>>(ElementType::kFloat16, ConvMath::kTf32)), 6);
  EXPECT_GE((check_config<HalfSmall<cutlass::half_t>>(ElementType::kFloat16, ConvMath::kTf32)), 6);
  EXPECT_GE((check_config<HalfLarge<cutlass::bfloat16_t>>(ElementType::kBFloat16, ConvMath::kTf32)), 6);
  EXPECT_GE((check_config<HalfSmall<cutlass::bfloat16_t>>(ElementType::kBFloat16, ConvMath::kTf32)), 6);
  EXPECT_GE(check_config<Tf32Large>(ElementType::kFloat32, ConvMath::kTf32), 7);
  EXPECT_GE(check_config<Tf32Small>(ElementType::kFloat32, ConvMath::kTf32), 7);
  EXPECT_EQ(check_config<F32ExactLarge>(ElementType::kFloat32, ConvMath::kExact), int(kShapes.size()));
  EXPECT_EQ(check_config<F32ExactSmall>(ElementType::kFloat32, ConvMath::kExact), int(kShapes.size()));
}

// Seeded random shapes, each held to the same rule: wherever implicit_gemm_conv_supported says a
// configuration's type and math take a shape, CUTLASS's can_implement takes it too.
std::vector<ImplicitGemmConvShape> random_shapes(int count) {
  std::mt19937 generator(20261207);
  const auto pick = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(generator); };
  std::vector<ImplicitGemmConvShape> shapes;
  while (int(shapes.size()) < count) {
    ImplicitGemmConvShape s{};
    s.batch = pick(1, 9);
    s.in_h = pick(1, 40);
    s.in_w = pick(1, 40);
    const int multiple = 1 << pick(0, 3);  // channels a multiple of 1, 2, 4 or 8
    s.in_channels = multiple * pick(1, 40);
    s.out_channels = multiple * pick(1, 40);
    s.kernel_h = pick(1, 7);
    s.kernel_w = pick(1, 7);
    s.stride_h = pick(1, 3);
    s.stride_w = pick(1, 3);
    s.pad_h = pick(0, 3);
    s.pad_w = pick(0, 3);
    s.dilation_h = pick(1, 2);
    s.dilation_w = pick(1, 2);
    const int reach_h = (s.kernel_h - 1) * s.dilation_h + 1, reach_w = (s.kernel_w - 1) * s.dilation_w + 1;
    if (s.in_h + 2 * s.pad_h < reach_h || s.in_w + 2 * s.pad_w < reach_w) continue;
    s.out_h = (s.in_h + 2 * s.pad_h - reach_h) / s.stride_h + 1;
    s.out_w = (s.in_w + 2 * s.pad_w - reach_w) / s.stride_w + 1;
    shapes.push_back(s);
  }
  return shapes;
}

TEST(CutlassArguments, RandomShapesThatShapesHAcceptsCutlassAcceptsToo) {
  const std::vector<ImplicitGemmConvShape> shapes = random_shapes(400);
  EXPECT_GT((check_config<HalfLarge<cutlass::half_t>>(ElementType::kFloat16, ConvMath::kTf32, shapes)), 40);
  EXPECT_GT((check_config<HalfSmall<cutlass::bfloat16_t>>(ElementType::kBFloat16, ConvMath::kTf32, shapes)), 40);
  EXPECT_GT(check_config<Tf32Large>(ElementType::kFloat32, ConvMath::kTf32, shapes), 80);
  EXPECT_GT(check_config<Tf32Small>(ElementType::kFloat32, ConvMath::kTf32, shapes), 80);
  EXPECT_EQ(check_config<F32ExactLarge>(ElementType::kFloat32, ConvMath::kExact, shapes), int(shapes.size()));
  EXPECT_EQ(check_config<F32ExactSmall>(ElementType::kFloat32, ConvMath::kExact, shapes), int(shapes.size()));
}

// Parallel split-K (launch_implicit_gemm_conv_split_k runs the small fp32 tiles): CUTLASS takes
// the arguments, splits the grid into the parts asked for, and its workspace is exactly the
// partial sums the caller passes as the output.
template <typename Config> void check_split_k(const ImplicitGemmConvShape& shape, int slices) {
  using Kernel = typename Config::Kernel;
  using Device = cutlass::conv::device::ImplicitGemmConvolution<Kernel>;
  const auto args = arguments<Config>(shape, slices);
  ASSERT_EQ(Device::can_implement(args), cutlass::Status::kSuccess) << describe(shape) << ", " << slices << " parts";
  const size_t partial_bytes = sizeof(float) * size_t(slices) * shape.batch * shape.out_h * shape.out_w * shape.out_channels;
  EXPECT_EQ(Device::get_workspace_size(args), partial_bytes);
  const typename Kernel::Params params(args, nullptr);
  EXPECT_EQ(params.grid_tiled_shape.k(), slices);
  // Each part's iterations cover its share of the reduction (C * R * S in steps of the tile's K).
  const int k_steps = (shape.in_channels + Config::Kernel::Mma::Shape::kK - 1) / Config::Kernel::Mma::Shape::kK *
                      shape.kernel_h * shape.kernel_w;
  EXPECT_GE(params.gemm_k_iterations * slices, k_steps);
  EXPECT_LT((params.gemm_k_iterations - shape.kernel_h * shape.kernel_w) * slices, k_steps);
}

TEST(CutlassArguments, SplitKTakesTheLinearLayersAsOneByOneConvs) {
  const auto linear = [](int rows, int in, int out) {
    return ImplicitGemmConvShape{rows, 1, 1, in, out, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1};
  };
  check_split_k<F32ExactSmall>(linear(64, 960, 1280), 13);  // mobilenet_v3_large's hidden layer
  check_split_k<F32ExactSmall>(linear(64, 2048, 1000), 16);  // resnet50's classifier
  check_split_k<F32ExactSmall>(linear(130, 8192, 70), 32);
  check_split_k<F32ExactSmall>(linear(9, 200, 33), 3);       // parts of unequal length
  check_split_k<Tf32Small>(linear(64, 960, 1280), 13);
  check_split_k<F32ExactSmall>({2, 13, 11, 3, 5, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1}, 2);  // a 3x3 conv
}

}  // namespace
}  // namespace ifx::kernels::implicit_gemm_conv_detail
