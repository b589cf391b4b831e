// 512-bit batch tiles of the x8 q4_0 / q8_0 matmul, one part of matmul_repacked.cc: included
// inside its per-target namespace on AVX3 targets (after RpArgs, RpSide, RpPf and Bcast4), so it
// has no include guard and no includes of its own. Runs only where the CPU has AVX512-VNNI
// (HasAvx512Vnni): vpdpbusd is emitted by inline assembly, as in dpbusd_avx2-inl.h.
// NOLINT(build/header_guard)

#include "kernels/dpbusd_avx512-inl.h"  // NOLINT(build/include)

// RpTile<kQ4, 2, NT, *> in 512-bit registers: lanes 0-7 hold group 0's rows, lanes 8-15 group
// 1's, so one vpdpbusd does both groups' chunk for a token (twice the work per instruction of
// the 256-bit tiles on cores with two 512-bit VNNI ports). Each lane's integer sums and float
// operations are those of RpTile (the sums start at -8 sum(x) for q4_0's unsigned nibbles and at
// -128 sum(x) for q8_0, whose weights are made unsigned as w ^ 0x80 = w + 128, shared by all
// tokens; integer sums are exact either way), so the results are bit-identical to it.
template <bool kQ4, int NT>
HWY_INLINE void RpTileZ(const RpArgs& a, const RpSide& side, const uint8_t* g, int64_t row,
                        int64_t t, RpPf pf) {
  const BlockQ8_0* xs[NT];
  const float* dx[NT];
  const int32_t* s0x[NT];
  for (int j = 0; j < NT; ++j) {
    xs[j] = reinterpret_cast<const BlockQ8_0*>(a.xq + (t + j) * a.x_row_bytes);
    dx[j] = side.dx.data() + (t + j) * a.nb;
    s0x[j] = side.s0.data() + (t + j) * a.nb;
  }
  __m512 acc[NT];
  for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0xF);
  const uint8_t* g1 = g + a.group_bytes;
  size_t pf_acc = 0;
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* c0 = g + ib * a.col_bytes;
    const uint8_t* c1 = g1 + ib * a.col_bytes;
    for (pf_acc += pf.n; pf_acc >= static_cast<size_t>(a.nb); pf_acc -= a.nb, pf.p += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(pf.p), _MM_HINT_T1);
    }
    __m512i s[NT];
    for (int j = 0; j < NT; ++j) s[j] = _mm512_set1_epi32(s0x[j][ib]);
    if constexpr (kQ4) {
      for (int c = 0; c < 4; ++c) {
        const size_t o = 2 * kRepackRows + 32 * c;
        const __m512i v = Load2x32(c0 + o, c1 + o);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        for (int j = 0; j < NT; ++j) {
          s[j] = DpbusdZ(DpbusdZ(s[j], lo, Bcast4Z(xs[j][ib].qs + 4 * c)), hi,
                         Bcast4Z(xs[j][ib].qs + 16 + 4 * c));
        }
      }
    } else {
      const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
      for (int c = 0; c < 8; ++c) {
        const size_t o = 2 * kRepackRows + 32 * c;
        const __m512i wu = _mm512_xor_si512(Load2x32(c0 + o, c1 + o), k80);
        for (int j = 0; j < NT; ++j) s[j] = DpbusdZ(s[j], wu, Bcast4Z(xs[j][ib].qs + 4 * c));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(c1)), 1));
    for (int j = 0; j < NT; ++j) {
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[j]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(dx[j][ib])), acc[j]);
    }
  }
  for (int j = 0; j < NT; ++j) {
    float* out = a.y + (t + j) * a.ldy + row;
    _mm256_storeu_ps(out, _mm512_castps512_ps256(acc[j]));
    _mm256_storeu_ps(out + kRepackRows,
                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[j]), 1)));
  }
}
