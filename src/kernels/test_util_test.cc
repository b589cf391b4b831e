// RandomBlocks (used by quant_test and matmul_test) and its own check.
#include "kernels/test_util.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/blocks.h"

namespace shoal::kernels::testing {
namespace {

uint16_t RandomScaleF16(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  return F32ToF16(u(rng));
}
void PutF16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

}  // namespace

std::vector<uint8_t> RandomBlocks(DType t, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const DTypeInfo& info = Info(t);
  std::vector<uint8_t> v(RowBytes(t, n));
  if (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16) {
    const std::vector<float> f = RandomFloats(n, seed);
    scalar::QuantizeRow(t, f.data(), v.data(), n);
    return v;
  }
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  for (int64_t ib = 0; ib < n / info.block_values; ++ib) {
    uint8_t* b = v.data() + ib * info.block_bytes;
    switch (t) {
      case DType::kQ4_0:
      case DType::kQ5_0:
      case DType::kQ8_0:
        PutF16(b, RandomScaleF16(rng));
        break;
      case DType::kQ4_1:
      case DType::kQ5_1:
      case DType::kQ4_K:
      case DType::kQ5_K:
        PutF16(b, RandomScaleF16(rng));
        PutF16(b + 2, RandomScaleF16(rng));
        break;
      case DType::kQ2_K:
        PutF16(b + offsetof(BlockQ2_K, d), RandomScaleF16(rng));
        PutF16(b + offsetof(BlockQ2_K, dmin), RandomScaleF16(rng));
        break;
      case DType::kQ3_K:
        PutF16(b + offsetof(BlockQ3_K, d), RandomScaleF16(rng));
        break;
      case DType::kQ6_K:
        PutF16(b + offsetof(BlockQ6_K, d), RandomScaleF16(rng));
        break;
      case DType::kIQ4_NL:
      case DType::kIQ4_XS:
      case DType::kIQ2_XXS:
      case DType::kIQ2_XS:
      case DType::kIQ2_S:
      case DType::kIQ3_XXS:
      case DType::kIQ3_S:
      case DType::kIQ1_S:
        PutF16(b, RandomScaleF16(rng));
        break;
      case DType::kMXFP4:
        b[0] = static_cast<uint8_t>(118 + rng() % 8);  // 2^-10 .. 2^-3
        break;
      case DType::kIQ1_M: {  // the f16 scale is the top nibbles of four 16-bit words
        const uint16_t h = RandomScaleF16(rng);
        for (int k = 0; k < 4; ++k) {
          uint8_t* hi = b + offsetof(BlockIQ1_M, scales) + 2 * k + 1;
          *hi = static_cast<uint8_t>((*hi & 0x0F) | (((h >> (4 * k)) & 0xF) << 4));
        }
        break;
      }
      default:
        break;
    }
  }
  return v;
}

namespace {
TEST(TestUtil, ListsTargets) {
  std::string names;
  ForEachTarget([&](const std::string& t) { names += t + " "; });
  std::printf("Highway targets under test: %s\n", names.c_str());
  EXPECT_FALSE(names.empty());
}

TEST(TestUtil, RandomBlocksHaveFiniteValues) {
  for (DType t : ComputeTypes()) {
    const int64_t n = 512;
    const std::vector<uint8_t> b = RandomBlocks(t, n, 7);
    std::vector<float> f(n);
    scalar::DequantizeRow(t, b.data(), f.data(), n);
    for (float x : f) ASSERT_TRUE(std::isfinite(x)) << DTypeName(t);
  }
}
}  // namespace
}  // namespace shoal::kernels::testing
