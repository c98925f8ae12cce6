// The host half of the CUTLASS 3 Hopper GEMMs (1x1 convs as [pixels, C] x
// [K, C]^T), run on the CPU: for every tile and element type of
// csrc/kernels/hopper_gemm_instances.cuh and every product of a list that
// hopper_gemm_supported (shapes.h) accepts, CUTLASS's can_implement accepts
// the arguments the launch builds (with and without bias and residual) and
// asks for no workspace, which the launch does not provide. No kernel is
// launched and no TMA descriptor is made (those need the GPU).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/hopper_gemm_instances.cuh"

namespace ifx::kernels::hopper_gemm_detail {
namespace {

// rows (pixels), depth (input channels), cols (output channels).
const std::vector<HopperGemmShape> kShapes = {
    {64 * 56 * 56, 64, 256},   // resnet50's 1x1 expansion at batch 64
    {49, 960, 160},            // mobilenet_v3_large's 7x7 projection at batch 1
    {64 * 28 * 28, 40, 240},   // efficientnet_b0's expansion: 40 channels (5 fp32 / 16-bit vectors of 8)
    {1, 16, 8},                // one pixel, one vector of 16-bit channels
    {777, 24, 72},             // rows off every tile
    {2, 12, 20},               // fp32 only: 12 and 20 channels are whole 4-element vectors
};

std::string describe(const HopperGemmShape& s) {
  return std::to_string(s.rows) + "x" + std::to_string(s.depth) + "x" + std::to_string(s.cols);
}

// How many of `products` the tile covers; each must be one CUTLASS takes, without a workspace.
template <typename Config> int check_config(ElementType type, const std::vector<HopperGemmShape>& products = kShapes) {
  using Kernel = typename Config::Kernel;
  void* const aligned = reinterpret_cast<void*>(uintptr_t(1) << 12);
  int covered = 0;
  for (const HopperGemmShape& shape : products) {
    if (!hopper_gemm_supported(type, ConvMath::kTf32, shape)) continue;
    ++covered;
    for (const bool with_epilogue_operands : {false, true}) {
      Epilogue epilogue;
      epilogue.activation = Activation::kHardswish;
      if (with_epilogue_operands) epilogue.bias = epilogue.residual = aligned;
      const GemmOperands operands{shape, aligned, aligned, aligned, epilogue, 132};
      const auto arguments = gemm_arguments<Config>(operands);
      EXPECT_TRUE(Kernel::can_implement(arguments)) << describe(shape) << ", bias and residual " << with_epilogue_operands;
      EXPECT_EQ(Kernel::get_workspace_size(arguments), 0u) << describe(shape);
    }
  }
  return covered;
}

template <typename Element> void check_tiles(ElementType type, int expected) {
  EXPECT_EQ(check_config<typename Tiles<Element>::Tile64x64>(type), expected);
  EXPECT_EQ(check_config<typename Tiles<Element>::Tile64x128>(type), expected);
  EXPECT_EQ(check_config<typename Tiles<Element>::Tile128x256>(type), expected);
}

// Seeded random products: channels a multiple of 1, 2, 4 or 8 elements (so some are off the
// 16-byte grid of one type or another), any row count.
std::vector<HopperGemmShape> random_products(int count) {
  std::mt19937 generator(20261207);
  const auto pick = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(generator); };
  std::vector<HopperGemmShape> products;
  for (int i = 0; i < count; ++i) {
    const int multiple = 1 << pick(0, 3);
    products.push_back({pick(1, 5000), multiple * pick(1, 200), multiple * pick(1, 200)});
  }
  return products;
}

TEST(HopperGemmArguments, RandomProductsThatShapesHAcceptsCutlassAcceptsToo) {
  const std::vector<HopperGemmShape> products = random_products(300);
  EXPECT_GT(check_config<Tiles<cutlass::half_t>::Tile64x64>(ElementType::kFloat16, products), 30);
  EXPECT_GT(check_config<Tiles<cutlass::bfloat16_t>::Tile64x128>(ElementType::kBFloat16, products), 30);
  EXPECT_GT(check_config<Tiles<float>::Tile128x256>(ElementType::kFloat32, products), 60);
}

TEST(HopperGemmArguments, EveryTileTakesTheProductsItIsRoutedTo) {
  check_tiles<cutlass::half_t>(ElementType::kFloat16, 5);
  check_tiles<cutlass::bfloat16_t>(ElementType::kBFloat16, 5);
  check_tiles<float>(ElementType::kFloat32, 6);
}

}  // namespace
}  // namespace ifx::kernels::hopper_gemm_detail
