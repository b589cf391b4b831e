// Element-wise sums with a fixed order of additions (so results do not depend on timing) and the
// bf16 <-> f32 conversions the bf16 all-reduce uses (bf16 is summed in f32, rounded once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace shoal::comm {

inline float F32FromBF16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t BF16FromF32(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

void F32FromBF16(const uint16_t* in, size_t count, float* out);
void BF16FromF32(const float* in, size_t count, uint16_t* out);

// out[i] = ((src[0][i] + src[1][i]) + src[2][i]) + ...: the sources in the order given.
// out may be any of the sources (each element is read from every source before it is written).
void SumInOrderF32(std::span<const float* const> src, size_t count, float* out);
// The same over bf16 sources, accumulated in f32 and rounded once into out.
void SumInOrderBF16(std::span<const uint16_t* const> src, size_t count, uint16_t* out);

// acc[i] = acc[i] + x[i]
void AddF32(float* acc, const float* x, size_t count);

}  // namespace shoal::comm
