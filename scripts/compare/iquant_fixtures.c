// Writes the i-quant / MXFP4 dequantization fixture: random blocks of each type and ggml's own
// dequantization of them (ggml_get_type_traits(t)->to_float). Built and run by
// scripts/compare/iquant_fixtures.sh against a local llama.cpp; not on CI's path.
//
// File: "SHQF" then per type: uint32 type, uint32 n_values, the blocks' bytes, n_values floats.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ggml.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t Next(void) {  // xorshift64*
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
// A finite f16 in +-[2^-12, 2^-4) (exponent field 3..10 before the bias of 15).
static uint16_t RandomHalf(void) {
  const uint32_t r = Next();
  return (uint16_t)(((r >> 31) << 15) | ((3 + (r >> 8) % 8) << 10) | (r & 0x3FF));
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "wb");
  if (!f) return 1;
  fwrite("SHQF", 1, 4, f);
  const enum ggml_type types[] = {GGML_TYPE_IQ4_NL,  GGML_TYPE_IQ4_XS, GGML_TYPE_MXFP4,
                                  GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S,
                                  GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S,  GGML_TYPE_IQ1_S,
                                  GGML_TYPE_IQ1_M};
  static uint8_t blocks[1 << 16];
  static float values[1 << 14];
  for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
    const enum ggml_type t = types[ti];
    const int64_t bv = ggml_blck_size(t);
    const size_t bb = ggml_type_size(t);
    const int64_t nb = bv == 32 ? 16 : 3;  // 512 or 768 values
    for (int64_t ib = 0; ib < nb; ++ib) {
      uint8_t* b = blocks + ib * bb;
      for (size_t i = 0; i < bb; ++i) b[i] = (uint8_t)Next();
      if (t == GGML_TYPE_MXFP4) continue;  // every E8M0 exponent is valid (incl. 0 and 255)
      const uint16_t h = RandomHalf();
      if (t == GGML_TYPE_IQ1_M) {  // the f16 scale lives in the top nibble of 4 uint16 words
        uint16_t sc[4];
        memcpy(sc, b + 48, 8);
        for (int k = 0; k < 4; ++k) sc[k] = (uint16_t)((sc[k] & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12));
        memcpy(b + 48, sc, 8);
      } else {
        memcpy(b, &h, 2);
      }
    }
    const int64_t n = nb * bv;
    ggml_get_type_traits(t)->to_float(blocks, values, n);
    const uint32_t hdr[2] = {(uint32_t)t, (uint32_t)n};
    fwrite(hdr, 4, 2, f);
    fwrite(blocks, 1, (size_t)nb * bb, f);
    fwrite(values, 4, (size_t)n, f);
  }
  return fclose(f) == 0 ? 0 : 1;
}
