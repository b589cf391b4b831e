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

// i-quants and MXFP4 (GGUF types 16..23, 29, 39); see iquants.h for how values are decoded.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];  // x = d * kIQ4NLValues[nibble], values j and j+16 in byte j
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;    // high 2 bits of the 8 six-bit scales
  uint8_t scales_l[4];  // low 4 bits (two per byte)
  uint8_t qs[128];      // per 32 values: 16 bytes as in iq4_nl
};
struct BlockMXFP4 {
  uint8_t e;  // E8M0 exponent: x = 2^(e - 128) * kMXFP4Values[nibble]
  uint8_t qs[16];
};
struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[32];  // per 32 values: 4 grid bytes, then 4 x 7 sign bits + a 4-bit scale
};
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[32];    // 9-bit grid index + 7 sign bits per 8 values
  uint8_t scales[8];  // two 4-bit scales per 32 values
};
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[64];  // 32 grid index low bytes, then 32 sign bytes
  uint8_t qh[8];   // 2 high index bits per 8 values
  uint8_t scales[8];
};
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[96];  // 64 grid bytes (4 values each), then per 32 values 4 x 7 sign bits + scale
};
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[64];
  uint8_t qh[8];  // 9th index bit
  uint8_t signs[32];
  uint8_t scales[4];  // 4-bit scales, two per byte
};
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[32];  // grid index low bytes
  uint16_t qh[8];  // per 32 values: 4 x 3 high index bits, 3-bit scale, delta sign
};
struct BlockIQ1_M {
  uint8_t qs[32];
  uint8_t qh[16];     // per 8 values: 3 high index bits + delta sign (a nibble)
  uint8_t scales[8];  // 3-bit scales per 16 values; the f16 super-scale in the top nibbles
};

static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17 &&
              sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82 &&
              sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50 &&
              sizeof(BlockIQ1_M) == 56);

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
