#include "comm/reduce.h"

#include <algorithm>

namespace shoal::comm {
namespace {
constexpr size_t kBlock = 512;  // elements summed in a stack block (2 KiB of f32)
}  // namespace

void F32FromBF16(const uint16_t* in, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = F32FromBF16(in[i]);
}

void BF16FromF32(const float* in, size_t count, uint16_t* out) {
  for (size_t i = 0; i < count; ++i) out[i] = BF16FromF32(in[i]);
}

void SumInOrderF32(std::span<const float* const> src, size_t count, float* out) {
  float acc[kBlock];
  for (size_t base = 0; base < count; base += kBlock) {
    const size_t m = std::min(kBlock, count - base);
    const float* s0 = src[0] + base;
    for (size_t i = 0; i < m; ++i) acc[i] = s0[i];
    for (size_t r = 1; r < src.size(); ++r) {
      const float* s = src[r] + base;
      for (size_t i = 0; i < m; ++i) acc[i] += s[i];
    }
    std::memcpy(out + base, acc, m * sizeof(float));
  }
}

void SumInOrderBF16(std::span<const uint16_t* const> src, size_t count, uint16_t* out) {
  float acc[kBlock];
  for (size_t base = 0; base < count; base += kBlock) {
    const size_t m = std::min(kBlock, count - base);
    const uint16_t* s0 = src[0] + base;
    for (size_t i = 0; i < m; ++i) acc[i] = F32FromBF16(s0[i]);
    for (size_t r = 1; r < src.size(); ++r) {
      const uint16_t* s = src[r] + base;
      for (size_t i = 0; i < m; ++i) acc[i] += F32FromBF16(s[i]);
    }
    for (size_t i = 0; i < m; ++i) out[base + i] = BF16FromF32(acc[i]);
  }
}

void AddF32(float* acc, const float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) acc[i] = acc[i] + x[i];
}

}  // namespace shoal::comm
