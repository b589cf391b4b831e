// 512-bit tiles for the grid i-quants (iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m)
// and iq4_xs against q8_K, one part of matmul_simd.cc: included inside its per-target namespace on
// AVX3 targets after matmul_iq_avx2-inl.h (no include guard, no includes of its own). Runs only
// where the CPU has AVX512-VNNI (HasAvx512Vnni): vpdpbusd is emitted by inline assembly
// (dpbusd_avx512-inl.h).
// NOLINT(build/header_guard)
//
// Each 64 values (two 32-value sub-blocks) of a super-block decode once per row to:
// - one register of unsigned magnitudes in value order, its 8 grid entries (16 for iq3) fetched
//   by one gather, the natural unsigned operand of vpdpbusd;
// - a 64-bit mask of the signs (one bit per value: the 7 stored bits of each group of 8 spread
//   by pdep, the 8th from their parity), which negates the int8 activations under the mask in
//   decode (one row, one token: 4 rows per pass), and the magnitudes in prefill (each row's
//   super-block decoded once to signed weights for a tile of up to 16 tokens, whose activations
//   are x + 128, the unsigned operand);
// - the integer sub-block scales as int32 lanes, applied to vpdpbusd's exact 4-product sums
//   (each below 4 * 62 * 127 < 2^15) two parts at a time: packed to int16, one vpmaddwd.
// A super-block's sums stay in int32 and meet the float scales once, as in UnpackIQBlock
// (iquants.h), whose scalar dot this matches up to float summation order.

#include "kernels/dpbusd_avx512-inl.h"  // NOLINT(build/include)

// The sign masks of 8 groups from 8 bytes that each hold 7 sign bits in bits 0-6 (bit 7 clear):
// bit 7 of each byte becomes the parity of bits 0-6 (SignsFrom7, iquant_grids.h).
HWY_INLINE uint64_t Signs8Bytes(uint64_t v) {
  uint64_t p = v ^ (v >> 4);
  p ^= p >> 2;
  p ^= p >> 1;
  return v | ((p & 0x0101010101010101ULL) << 7);
}
// The same from 8 consecutive 7-bit fields of s56, spread to bytes by pdep.
HWY_INLINE uint64_t Signs8x7(uint64_t s56) {
  return Signs8Bytes(_pdep_u64(s56, 0x7F7F7F7F7F7F7F7FULL));
}
// int32 lanes: a in lanes 0-7 (the first sub-block), b in lanes 8-15.
HWY_INLINE __m512i Scales2x8(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
}
// int32 lanes: s0 in lanes 0-3, s1 in 4-7, s2 in 8-11, s3 in 12-15 (scales per 16 values).
HWY_INLINE __m512i Scales4x4(int s0, int s1, int s2, int s3) {
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                  _mm512_castsi128_si512(_mm_setr_epi32(s0, s1, s2, s3)));
}
// Scales of two sub-blocks whose bytes hold one 4-bit scale per 16 values (2 * s + 1).
HWY_INLINE __m512i ScalesNibbles(uint8_t a, uint8_t b) {
  return Scales4x4(2 * (a & 0xF) + 1, 2 * (a >> 4) + 1, 2 * (b & 0xF) + 1, 2 * (b >> 4) + 1);
}
// The 8 bytes at p as 8 int32 lanes (grid indices).
HWY_INLINE __m256i Bytes8ToI32(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// Values 64p..64p+63 of block b: magnitudes (*w, u8), sign mask (*m, bit i set where value i is
// negative) and integer scales (*sc, int32 lanes per 32 or 16 values).
// kLoads: iq2_xxs fetches its grid entries by 8 loads instead of one gather (GridByLoads,
// int8_dot.h); chosen once per call, outside the loops.
template <DType T, bool kLoads = false>
HWY_INLINE void DecodeIQ64(const uint8_t* b, int p, __m512i* w, __mmask64* m, __m512i* sc) {
  if constexpr (T == DType::kIQ2_XXS) {
    const uint8_t* q = b + 2 + 16 * p;  // per sub-block: 4 index bytes, then signs and scale
    const uint32_t s0 = Load32(q + 4), s1 = Load32(q + 12);
    if constexpr (kLoads) {
      const auto g = [q](int a, int b) {
        return _mm_set_epi64x(static_cast<int64_t>(kIQ2XXSGrid[q[b]]),
                              static_cast<int64_t>(kIQ2XXSGrid[q[a]]));
      };
      *w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(g(2, 3), g(0, 1))),
                              _mm256_set_m128i(g(10, 11), g(8, 9)), 1);
    } else {
      const uint64_t idx = uint64_t{Load32(q)} | (uint64_t{Load32(q + 8)} << 32);
      *w = _mm512_i32gather_epi64(
          _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(idx))), kIQ2XXSGrid, 8);
    }
    *m = Signs8x7((s0 & 0x0FFFFFFF) | (uint64_t{s1 & 0x0FFFFFFF} << 28));
    *sc = Scales2x8(2 * static_cast<int>(s0 >> 28) + 1, 2 * static_cast<int>(s1 >> 28) + 1);
  } else if constexpr (T == DType::kIQ2_XS) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + 16 * p));
    const __m256i idx = _mm256_and_si256(_mm256_cvtepu16_epi32(q), _mm256_set1_epi32(511));
    *w = _mm512_i32gather_epi64(idx, kIQ2XSGrid, 8);
    const __m128i s = _mm_srli_epi16(q, 9);
    *m = Signs8Bytes(static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(s, s))));
    *sc = ScalesNibbles(b[2 + 64 + 2 * p], b[2 + 64 + 2 * p + 1]);
  } else if constexpr (T == DType::kIQ2_S) {
    // Index bits 8-9 of entry l of sub-block s: bits 2l, 2l+1 of byte 64 + s.
    const int h0 = b[2 + 64 + 2 * p], h1 = b[2 + 65 + 2 * p];
    const __m256i hv = _mm256_srlv_epi32(_mm256_setr_epi32(h0, h0, h0, h0, h1, h1, h1, h1),
                                         _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    const __m256i idx =
        _mm256_or_si256(Bytes8ToI32(b + 2 + 8 * p),
                        _mm256_slli_epi32(_mm256_and_si256(hv, _mm256_set1_epi32(3)), 8));
    *w = _mm512_i32gather_epi64(idx, kIQ2SGrid, 8);
    uint64_t signs;
    std::memcpy(&signs, b + 2 + 32 + 8 * p, 8);
    *m = signs;
    *sc = ScalesNibbles(b[2 + 72 + 2 * p], b[2 + 72 + 2 * p + 1]);
  } else if constexpr (T == DType::kIQ3_XXS) {
    const __m512i idx =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + 16 * p)));
    *w = _mm512_i32gather_epi32(idx, kIQ3XXSGrid, 4);
    const uint32_t s0 = Load32(b + 2 + 64 + 8 * p), s1 = Load32(b + 2 + 64 + 8 * p + 4);
    *m = Signs8x7((s0 & 0x0FFFFFFF) | (uint64_t{s1 & 0x0FFFFFFF} << 28));
    *sc = Scales2x8(2 * static_cast<int>(s0 >> 28) + 1, 2 * static_cast<int>(s1 >> 28) + 1);
  } else if constexpr (T == DType::kIQ3_S) {
    // 16 index bytes, bit 8 of index k from bit k of the two bytes at 64 + 2p
    const int hb = b[2 + 64 + 2 * p] | (b[2 + 65 + 2 * p] << 8);
    const __m512i hi = _mm512_slli_epi32(
        _mm512_and_si512(
            _mm512_srlv_epi32(_mm512_set1_epi32(hb), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                       10, 11, 12, 13, 14, 15)),
            _mm512_set1_epi32(1)),
        8);
    const __m512i idx = _mm512_or_si512(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + 16 * p))),
        hi);
    *w = _mm512_i32gather_epi32(idx, kIQ3SGrid, 4);
    uint64_t signs;
    std::memcpy(&signs, b + 2 + 72 + 8 * p, 8);
    *m = signs;
    const int sb = b[2 + 104 + p];
    *sc = Scales2x8(1 + 2 * (sb & 0xF), 1 + 2 * (sb >> 4));
  } else if constexpr (T == DType::kIQ1_M) {
    // 8 index bytes; per entry 3 high index bits and the shift's sign from its half of the byte
    // at 32 + 2 s (low nibble: even entries, high: odd)
    const uint8_t* hb = b + 32 + 4 * p;
    const __m256i hv = _mm256_setr_epi32(hb[0], hb[0], hb[1], hb[1], hb[2], hb[2], hb[3], hb[3]);
    const __m256i hi = _mm256_and_si256(
        _mm256_sllv_epi32(hv, _mm256_setr_epi32(8, 4, 8, 4, 8, 4, 8, 4)), _mm256_set1_epi32(0x700));
    const __m256i idx = _mm256_or_si256(Bytes8ToI32(b + 8 * p), hi);
    const __m512i g = _mm512_i32gather_epi64(idx, kIQ1SGrid, 8);
    const __mmask8 neg = _mm256_test_epi32_mask(
        hv, _mm256_setr_epi32(0x08, 0x80, 0x08, 0x80, 0x08, 0x80, 0x08, 0x80));
    const __m512i delta = _mm512_mask_blend_epi64(neg, _mm512_set1_epi8(1), _mm512_set1_epi8(-1));
    const __m512i tbl =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, 0, -8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    const __m512i v =
        _mm512_add_epi8(_mm512_shuffle_epi8(tbl, _mm512_and_si512(g, _mm512_set1_epi8(3))), delta);
    *w = _mm512_abs_epi8(v);
    *m = _mm512_movepi8_mask(v);
    const int sw = Load16(b + 48 + 2 * p);
    *sc = Scales4x4(2 * (sw & 7) + 1, 2 * ((sw >> 3) & 7) + 1, 2 * ((sw >> 6) & 7) + 1,
                    2 * ((sw >> 9) & 7) + 1);
  } else {  // kIQ1_S: values 8 * g + delta, g in {-1, 0, 1}, delta +-1 per sub-block
    const uint8_t* q = b + 2 + 8 * p;
    const uint16_t h0 = Load16(b + 2 + 32 + 4 * p), h1 = Load16(b + 2 + 32 + 4 * p + 2);
    const __m256i hv = _mm256_setr_epi32(h0, h0, h0, h0, h1, h1, h1, h1);
    const __m256i hi = _mm256_and_si256(
        _mm256_sllv_epi32(hv, _mm256_setr_epi32(8, 5, 2, 0, 8, 5, 2, 0)), _mm256_set1_epi32(0x700));
    // Entry 3 of each sub-block takes bits 9-11 of h (h >> 1).
    const __m256i hi3 = _mm256_and_si256(_mm256_srli_epi32(hv, 1), _mm256_set1_epi32(0x700));
    const __m256i idx = _mm256_or_si256(Bytes8ToI32(q), _mm256_blend_epi32(hi, hi3, 0x88));
    const __m512i g = _mm512_i32gather_epi64(idx, kIQ1SGrid, 8);
    // 8 * g through a byte table on g & 3 (0 -> 0, 1 -> 8, 3 -> -8), then the delta.
    const __m512i tbl =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, 0, -8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    const __m512i g8 = _mm512_shuffle_epi8(tbl, _mm512_and_si512(g, _mm512_set1_epi8(3)));
    const __m512i delta =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((h0 & 0x8000) ? -1 : 1)),
                           _mm256_set1_epi8((h1 & 0x8000) ? -1 : 1), 1);
    const __m512i v = _mm512_add_epi8(g8, delta);
    *w = _mm512_abs_epi8(v);
    *m = _mm512_movepi8_mask(v);
    *sc = Scales2x8(2 * ((h0 >> 12) & 7) + 1, 2 * ((h1 >> 12) & 7) + 1);
  }
}

// sum_p sc[p] * dot[p] over the 4 parts of a super-block, as int32 lanes: the 4-product sums of
// two parts packed to int16 (exact: each is below 2^15) meet their scales, packed the same way,
// in one vpmaddwd (scp01 = packs(sc[0], sc[1]), scp23 = packs(sc[2], sc[3])).
HWY_INLINE __m512i ScaledSum(const __m512i dot[4], __m512i scp01, __m512i scp23) {
  return _mm512_add_epi32(_mm512_madd_epi16(_mm512_packs_epi32(dot[0], dot[1]), scp01),
                          _mm512_madd_epi16(_mm512_packs_epi32(dot[2], dot[3]), scp23));
}

// Decode: RT rows x 1 token; the signs negate the activations under each row's masks.
template <DType T, int RT, bool kLoads>
void IQRowsDecodeZ(const Args& a, int64_t r, int64_t t) {
  const size_t bb = static_cast<size_t>(Info(T).block_bytes);
  const int64_t nb = a.k / 256;
  const BlockQ8_K* xb = reinterpret_cast<const BlockQ8_K*>(a.xq + t * a.x_row_bytes);
  __m512 acc[RT];
  for (int i = 0; i < RT; ++i) acc[i] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t ib = 0; ib < nb; ++ib) {
    PrefetchUpto(a, ib + 1, nb);
    __m512i xv[4];
    for (int p = 0; p < 4; ++p) xv[p] = _mm512_loadu_si512(xb[ib].qs + 64 * p);
    for (int i = 0; i < RT; ++i) {
      const uint8_t* b = a.W + (r + i) * a.w_row_bytes + ib * bb;
      __m512i w[4], sc[4], dot[4];
      __mmask64 m[4];
      for (int p = 0; p < 4; ++p) {
        DecodeIQ64<T, kLoads>(b, p, &w[p], &m[p], &sc[p]);
        dot[p] = DpbusdZ(zero, w[p], _mm512_mask_sub_epi8(xv[p], m[p], zero, xv[p]));
      }
      const __m512i sumi =
          ScaledSum(dot, _mm512_packs_epi32(sc[0], sc[1]), _mm512_packs_epi32(sc[2], sc[3]));
      acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(IQBlockScale<T>(b) * xb[ib].d),
                               _mm512_cvtepi32_ps(sumi), acc[i]);
    }
  }
  for (int i = 0; i < RT; ++i) a.y[t * a.ldy + r + i] = _mm512_reduce_add_ps(acc[i]);
}

// Prefill: rows [r0, r1) x NT tokens whose activations xu hold x + 128 (UnsignedTokens). Each
// row's super-block is decoded once to signed weights (the signs applied to the magnitudes) for
// all NT tokens; the dot of x + 128 starts from -128 * (the weights' 4-value sums), so every
// 4-product sum is the exact signed one.
template <DType T, bool kLoads>
struct IQPrefillZ {
  template <int NT>
  static void Run(const Args& a, int64_t r0, int64_t r1, int64_t t, const uint8_t* xu,
                  const float* dx) {
    const size_t bb = static_cast<size_t>(Info(T).block_bytes);
    const int64_t nb = a.k / 256;
    const __m512i zero = _mm512_setzero_si512(), k80 = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t r = r0; r < r1; ++r) {
      __m512 acc[NT];
      for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
      for (int64_t ib = 0; ib < nb; ++ib) {
        const uint8_t* b = a.W + r * a.w_row_bytes + ib * bb;
        __m512i ws[4], nc[4], sc[4];
        for (int p = 0; p < 4; ++p) {
          __m512i w;
          __mmask64 m;
          DecodeIQ64<T, kLoads>(b, p, &w, &m, &sc[p]);
          ws[p] = _mm512_mask_sub_epi8(w, m, zero, w);
          nc[p] = _mm512_sub_epi32(zero, DpbusdZ(zero, k80, ws[p]));
        }
        const __m512i scp01 = _mm512_packs_epi32(sc[0], sc[1]);
        const __m512i scp23 = _mm512_packs_epi32(sc[2], sc[3]);
        const float d = IQBlockScale<T>(b);
        for (int j = 0; j < NT; ++j) {
          const uint8_t* x = xu + j * a.k + ib * 256;
          __m512i dot[4];
          for (int p = 0; p < 4; ++p) {
            dot[p] = DpbusdZ(nc[p], _mm512_loadu_si512(x + 64 * p), ws[p]);
          }
          acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(d * dx[j * nb + ib]),
                                   _mm512_cvtepi32_ps(ScaledSum(dot, scp01, scp23)), acc[j]);
        }
      }
      for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r] = _mm512_reduce_add_ps(acc[j]);
    }
  }
};

// Prefill in token tiles of 16 down to 2, then single tokens (decode) 4 rows per pass.
template <DType T, bool kLoads>
void IQGridZRunT(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  for (int64_t t = IQPrefillTiles<IQPrefillZ<T, kLoads>, 16>(a, n_tok, r0, r1); t < n_tok; ++t) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      PrefetchNext(a, r + 4, std::min<int64_t>(4, r1 - r - 4));
      IQRowsDecodeZ<T, 4, kLoads>(a, r, t);
    }
    a.pf_lines = 0;
    for (; r + 2 <= r1; r += 2) IQRowsDecodeZ<T, 2, kLoads>(a, r, t);
    for (; r < r1; ++r) IQRowsDecodeZ<T, 1, kLoads>(a, r, t);
  }
}
// iq2_xxs by loads where GridByLoads() (int8_dot.h), every other case by gathers.
template <DType T>
void IQGridZRun(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  if constexpr (T == DType::kIQ2_XXS) {
    if (GridByLoads()) return IQGridZRunT<T, true>(a, n_tok, r0, r1);
  }
  IQGridZRunT<T, false>(a, n_tok, r0, r1);
}

// iq4_xs x q8_K (RT rows x NT tokens, through Grid). Each 64 values (two sub-blocks, 32 bytes of
// nibbles: byte j of a sub-block holds its values j and j + 16) become one register of the
// codebook plus 128 (unsigned, 1..241, vpdpbusd's unsigned operand) in value order: the two
// 16-byte halves are repeated in 128-bit lanes (0, 0, 1, 1), the odd lanes shifted right by 4, the
// nibbles looked up with one byte shuffle. vpdpbusd's 4-product sums (w + 128) . x meet the
// sub-block scales (ls - 32, int32 lanes: lanes 0-7 the first sub-block, 8-15 the second) in one
// vpmulld; the excess 128 * sum(x) of sub-block s is taken off once per super-block from the
// activations' bsums: sum_s (ls_s - 32) * (-128) * (bsums[2s] + bsums[2s + 1]). All exact in
// int32; the float scales meet once per super-block, as in the scalar twin.
struct IQ4XSZ {
  // The 8 scales ls - 32 as int32 lanes.
  static HWY_INLINE __m256i Scales(const BlockIQ4_XS& b) {
    const __m256i lo =
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(Load32(b.scales_l))),
                                           _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                         _mm256_set1_epi32(0xF));
    const __m256i hi = _mm256_slli_epi32(
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b.scales_h),
                                           _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                         _mm256_set1_epi32(3)),
        4);
    return _mm256_sub_epi32(_mm256_or_si256(lo, hi), _mm256_set1_epi32(32));
  }
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const int64_t nb = a.k / 256;
      alignas(16) static constexpr uint8_t kTable[16] = {1,   24,  45,  63,  79,  93,  106, 118,
                                                         129, 141, 153, 166, 181, 197, 217, 241};
      const __m512i table =
          _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kTable)));
      const __m512i shifts = _mm512_setr_epi64(0, 0, 0x0004000400040004LL, 0x0004000400040004LL, 0,
                                               0, 0x0004000400040004LL, 0x0004000400040004LL);
      const __m512i m4 = _mm512_set1_epi8(0xF), zero = _mm512_setzero_si512();
      const __m256i k128 = _mm256_set1_epi16(-128);
      __m512 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm512_setzero_ps();
      }
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        const BlockQ8_K* xb[NT];
        for (int j = 0; j < NT; ++j) {
          xb[j] = reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes) + ib;
        }
        for (int i = 0; i < RT; ++i) {
          const BlockIQ4_XS& b =
              reinterpret_cast<const BlockIQ4_XS*>(a.W + (r + i) * a.w_row_bytes)[ib];
          const __m256i sc8 = Scales(b);
          const __m512i sc16 = _mm512_castsi256_si512(sc8);
          __m512i w[4], sc[4];
          for (int p = 0; p < 4; ++p) {
            const __m512i q = _mm512_castsi256_si512(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * p)));
            const __m512i n =
                _mm512_and_si512(_mm512_srlv_epi16(_mm512_shuffle_i64x2(q, q, 0x50), shifts), m4);
            w[p] = _mm512_shuffle_epi8(table, n);
            sc[p] = _mm512_permutexvar_epi32(
                _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1),
                sc16);
          }
          const float d = _cvtsh_ss(b.d);
          for (int j = 0; j < NT; ++j) {
            __m512i sumi = _mm512_zextsi256_si512(_mm256_mullo_epi32(
                sc8,
                _mm256_madd_epi16(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->bsums)), k128)));
            for (int p = 0; p < 4; ++p) {
              const __m512i dot = DpbusdZ(zero, w[p], _mm512_loadu_si512(xb[j]->qs + 64 * p));
              sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(dot, sc[p]));
            }
            acc[i][j] =
                _mm512_fmadd_ps(_mm512_set1_ps(d * xb[j]->d), _mm512_cvtepi32_ps(sumi), acc[i][j]);
          }
        }
      }
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r + i] = _mm512_reduce_add_ps(acc[i][j]);
      }
    }
  };
};
