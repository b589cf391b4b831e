// Writes the i-quant / MXFP4 dot-product fixture: per type, random weight rows, activations
// quantized by ggml's own from_float to the type's vec_dot_type (q8_0 / q8_K), and ggml's
// vec_dot of each row with each token. Built and run by scripts/compare/iquant_fixtures.sh; not
// on CI's path.
//
// File: "SHQD" then per type: uint32 type, k, rows, n_tok, activation type; the weight rows;
// the activation rows; rows * n_tok floats, y[t * rows + r].
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ggml-cpu.h"
#include "ggml.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t Next(void) {  // xorshift64*
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static uint16_t RandomHalf(void) {  // +-[2^-12, 2^-4)
  const uint32_t r = Next();
  return (uint16_t)(((r >> 31) << 15) | ((3 + (r >> 8) % 8) << 10) | (r & 0x3FF));
}
static float RandomFloat(void) {  // roughly N(0, 1): sum of 4 uniforms, centred
  float s = 0;
  for (int i = 0; i < 4; ++i) s += (float)(Next() >> 8) / 16777216.0f;
  return (s - 2.0f) * 1.7f;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT\n", argv[0]);
    return 2;
  }
  ggml_cpu_init();
  FILE* f = fopen(argv[1], "wb");
  if (!f) return 1;
  fwrite("SHQD", 1, 4, f);
  const enum ggml_type types[] = {GGML_TYPE_IQ4_NL,  GGML_TYPE_IQ4_XS, GGML_TYPE_MXFP4,
                                  GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S,
                                  GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S,  GGML_TYPE_IQ1_S,
                                  GGML_TYPE_IQ1_M};
  enum { kK = 512, kRows = 3, kTok = 2 };
  static uint8_t w[kRows * kK * 2], xq[kTok * kK * 2];
  static float x[kK], y[kRows * kTok];
  for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
    const enum ggml_type t = types[ti];
    const struct ggml_type_traits_cpu* tr = ggml_get_type_traits_cpu(t);
    const enum ggml_type at = tr->vec_dot_type;
    const size_t bb = ggml_type_size(t), wrb = ggml_row_size(t, kK), arb = ggml_row_size(at, kK);
    for (size_t i = 0; i < kRows * wrb; ++i) w[i] = (uint8_t)Next();
    for (size_t ib = 0; ib < kRows * wrb / bb; ++ib) {
      uint8_t* b = w + ib * bb;
      if (t == GGML_TYPE_MXFP4) {
        b[0] = (uint8_t)(118 + Next() % 8);  // finite products
        continue;
      }
      const uint16_t h = RandomHalf();
      if (t == GGML_TYPE_IQ1_M) {
        uint16_t sc[4];
        memcpy(sc, b + 48, 8);
        for (int k = 0; k < 4; ++k) sc[k] = (uint16_t)((sc[k] & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12));
        memcpy(b + 48, sc, 8);
      } else {
        memcpy(b, &h, 2);
      }
    }
    for (int tok = 0; tok < kTok; ++tok) {
      for (int i = 0; i < kK; ++i) x[i] = RandomFloat();
      ggml_get_type_traits_cpu(at)->from_float(x, xq + tok * arb, kK);
    }
    for (int tok = 0; tok < kTok; ++tok) {
      for (int r = 0; r < kRows; ++r) {
        tr->vec_dot(kK, &y[tok * kRows + r], 0, w + r * wrb, 0, xq + tok * arb, 0, 1);
      }
    }
    const uint32_t hdr[5] = {(uint32_t)t, kK, kRows, kTok, (uint32_t)at};
    fwrite(hdr, 4, 5, f);
    fwrite(w, 1, kRows * wrb, f);
    fwrite(xq, 1, kTok * arb, f);
    fwrite(y, 4, kRows * kTok, f);
  }
  return fclose(f) == 0 ? 0 : 1;
}
