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
