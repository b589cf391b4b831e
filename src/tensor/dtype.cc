#include "tensor/dtype.h"

#include <array>
#include <cctype>
#include <cstdlib>

namespace shoal {
namespace {

constexpr std::array kTypes = {
    DTypeInfo{DType::kF32, "f32", 1, 4, true},
    DTypeInfo{DType::kF16, "f16", 1, 2, true},
    DTypeInfo{DType::kQ4_0, "q4_0", 32, 18, true},
    DTypeInfo{DType::kQ4_1, "q4_1", 32, 20, true},
    DTypeInfo{DType::kQ5_0, "q5_0", 32, 22, true},
    DTypeInfo{DType::kQ5_1, "q5_1", 32, 24, true},
    DTypeInfo{DType::kQ8_0, "q8_0", 32, 34, true},
    DTypeInfo{DType::kQ8_1, "q8_1", 32, 36, false},
    DTypeInfo{DType::kQ2_K, "q2_K", 256, 84, true},
    DTypeInfo{DType::kQ3_K, "q3_K", 256, 110, true},
    DTypeInfo{DType::kQ4_K, "q4_K", 256, 144, true},
    DTypeInfo{DType::kQ5_K, "q5_K", 256, 176, true},
    DTypeInfo{DType::kQ6_K, "q6_K", 256, 210, true},
    DTypeInfo{DType::kQ8_K, "q8_K", 256, 292, false},
    DTypeInfo{DType::kIQ2_XXS, "iq2_xxs", 256, 66, true},
    DTypeInfo{DType::kIQ2_XS, "iq2_xs", 256, 74, true},
    DTypeInfo{DType::kIQ3_XXS, "iq3_xxs", 256, 98, true},
    DTypeInfo{DType::kIQ1_S, "iq1_s", 256, 50, true},
    DTypeInfo{DType::kIQ4_NL, "iq4_nl", 32, 18, true},
    DTypeInfo{DType::kIQ3_S, "iq3_s", 256, 110, true},
    DTypeInfo{DType::kIQ2_S, "iq2_s", 256, 82, true},
    DTypeInfo{DType::kIQ4_XS, "iq4_xs", 256, 136, true},
    DTypeInfo{DType::kI8, "i8", 1, 1, false},
    DTypeInfo{DType::kI16, "i16", 1, 2, false},
    DTypeInfo{DType::kI32, "i32", 1, 4, false},
    DTypeInfo{DType::kI64, "i64", 1, 8, false},
    DTypeInfo{DType::kF64, "f64", 1, 8, false},
    DTypeInfo{DType::kIQ1_M, "iq1_m", 256, 56, true},
    DTypeInfo{DType::kBF16, "bf16", 1, 2, true},
    DTypeInfo{DType::kTQ1_0, "tq1_0", 256, 54, false},
    DTypeInfo{DType::kTQ2_0, "tq2_0", 256, 66, false},
    DTypeInfo{DType::kMXFP4, "mxfp4", 32, 17, true},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::optional<DTypeInfo> LookupDType(uint32_t id) {
  for (const DTypeInfo& i : kTypes) {
    if (static_cast<uint32_t>(i.type) == id) return i;
  }
  return std::nullopt;
}

const DTypeInfo& Info(DType t) {
  for (const DTypeInfo& i : kTypes) {
    if (i.type == t) return i;
  }
  std::abort();  // an undefined enum value is a programming error, not input
}

std::string_view DTypeName(DType t) { return Info(t).name; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const DTypeInfo& i : kTypes) {
    if (EqualsIgnoreCase(i.name, name)) return i.type;
  }
  return std::nullopt;
}

std::optional<size_t> RowBytesChecked(DType t, int64_t n) {
  const DTypeInfo& i = Info(t);
  if (n < 0 || n % i.block_values != 0) return std::nullopt;
  const uint64_t blocks = static_cast<uint64_t>(n / i.block_values);
  if (blocks > UINT64_MAX / static_cast<uint64_t>(i.block_bytes)) return std::nullopt;
  return static_cast<size_t>(blocks * static_cast<uint64_t>(i.block_bytes));
}

}  // namespace shoal
