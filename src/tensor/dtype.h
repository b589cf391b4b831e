// Tensor element types, numbered exactly as GGUF files number them (ggml_type), with the block
// layout facts every other layer needs: values per block and bytes per block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shoal {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as GGUF tools print it: "q4_K", "f16"
  int32_t block_values;   // values per block (1 for plain types)
  int32_t block_bytes;    // bytes per block
  bool computable;        // shoal has dequantization and matmul kernels for it
};

inline constexpr int32_t kQK = 32;    // values per block of the legacy quants
inline constexpr int32_t kQK_K = 256;  // values per super-block of the k-quants

// Facts for a type id read from a file; nullopt for an id GGUF does not define.
std::optional<DTypeInfo> LookupDType(uint32_t id);
const DTypeInfo& Info(DType t);  // t must be a defined type
std::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);  // case-insensitive: "q4_k", "Q4_K"

// Bytes for a row of n values; n must be a multiple of the block size (checked by callers that
// read files: see RowBytesChecked).
inline size_t RowBytes(DType t, int64_t n) {
  const DTypeInfo& i = Info(t);
  return static_cast<size_t>(n / i.block_values) * static_cast<size_t>(i.block_bytes);
}
// Bytes for n values, or nullopt when n is negative, not a multiple of the block size, or
// overflows.
std::optional<size_t> RowBytesChecked(DType t, int64_t n);

}  // namespace shoal
