// Internal: GGUF block layouts (bit-exact with ggml's block_q4_0 etc.) and small helpers shared by
// the scalar and SIMD kernels. Not part of the public kernels API.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/quant.h"

namespace shoal::kernels {

// 32-value quants: values j and j+16 share byte j of qs (low nibble, high nibble).
struct BlockQ4_0 {
  uint16_t d;      // f16 scale
  uint8_t qs[16];  // x = (nibble - 8) * d
};
struct BlockQ4_1 {
  uint16_t d, m;   // f16 scale and min
  uint8_t qs[16];  // x = nibble * d + m
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];   // bit j = 5th bit of value j
  uint8_t qs[16];  // x = (q5 - 16) * d
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];  // x = q5 * d + m
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];  // x = q * d
};
// k-quants: super-blocks of 256 values.
struct BlockQ2_K {
  uint8_t scales[16];  // per 16 values: low nibble scale, high nibble min
  uint8_t qs[64];      // 2-bit quants
  uint16_t d, dmin;    // f16 super-block scales for scales and mins
};
struct BlockQ3_K {
  uint8_t hmask[32];   // high bit (set: +0, clear: -4)
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // 16 six-bit scales, stored with an offset of 32
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // per 16 values
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];  // sum of each 16 quants
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// 6-bit scale and min j (0..7) of a q4_K / q5_K block.
inline void ScaleMinK4(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Signed scale i (0..15) of a q3_K block (already minus 32).
inline int ScaleQ3K(const uint8_t* s, int i) {
  const int lo = (s[i % 8] >> (4 * (i / 8))) & 0xF;
  const int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace shoal::kernels
