#include "tensor/dtype.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(DType, BlockLayoutsMatchGguf) {
  // Sizes follow from the block structs: e.g. q4_K = f16 d + f16 dmin + 12 scale bytes + 128 nibble
  // bytes for 256 values.
  EXPECT_EQ(RowBytes(DType::kQ4_0, 4096), 4096 / 32 * (2 + 16));
  EXPECT_EQ(RowBytes(DType::kQ4_K, 4096), 4096 / 256 * (2 + 2 + 12 + 128));
  EXPECT_EQ(RowBytes(DType::kQ6_K, 256), 128 + 64 + 16 + 2);
  EXPECT_EQ(RowBytes(DType::kQ3_K, 256), 32 + 64 + 12 + 2);
  EXPECT_EQ(RowBytes(DType::kQ2_K, 256), 16 + 64 + 2 + 2);
  EXPECT_EQ(RowBytes(DType::kQ5_K, 256), 2 + 2 + 12 + 32 + 128);
}

// Bits per weight of the i-quants and MXFP4 as their formats define them (ggml-common.h block
// comments / the GGUF spec), which is what the plan and the cost model read through RowBytes.
TEST(DType, IQuantSizes) {
  const struct {
    DType t;
    uint32_t id;
    double bpw;
  } kWant[] = {{DType::kIQ2_XXS, 16, 2.0625}, {DType::kIQ2_XS, 17, 2.3125},
               {DType::kIQ3_XXS, 18, 3.0625}, {DType::kIQ1_S, 19, 1.5625},
               {DType::kIQ4_NL, 20, 4.5},     {DType::kIQ3_S, 21, 3.4375},
               {DType::kIQ2_S, 22, 2.5625},   {DType::kIQ4_XS, 23, 4.25},
               {DType::kIQ1_M, 29, 1.75},     {DType::kMXFP4, 39, 4.25}};
  for (const auto& w : kWant) {
    ASSERT_TRUE(LookupDType(w.id).has_value());
    EXPECT_EQ(LookupDType(w.id)->type, w.t);
    EXPECT_TRUE(Info(w.t).computable) << DTypeName(w.t);
    EXPECT_DOUBLE_EQ(8.0 * double(RowBytes(w.t, 4096)) / 4096.0, w.bpw) << DTypeName(w.t);
  }
  EXPECT_EQ(DTypeFromName("IQ4_XS"), DType::kIQ4_XS);
  EXPECT_EQ(DTypeFromName("mxfp4"), DType::kMXFP4);
}

TEST(DType, LookupAndNames) {
  EXPECT_FALSE(LookupDType(4).has_value());  // removed q4_2
  EXPECT_FALSE(LookupDType(1000).has_value());
  EXPECT_EQ(LookupDType(30)->type, DType::kBF16);
  EXPECT_EQ(DTypeFromName("Q4_k"), DType::kQ4_K);
  EXPECT_EQ(DTypeName(DType::kQ8_0), "q8_0");
  EXPECT_FALSE(RowBytesChecked(DType::kQ4_0, 33).has_value());
  EXPECT_FALSE(RowBytesChecked(DType::kF32, -1).has_value());
  EXPECT_FALSE(RowBytesChecked(DType::kF32, INT64_MAX).has_value());  // 4 * n overflows
}

}  // namespace
}  // namespace shoal
