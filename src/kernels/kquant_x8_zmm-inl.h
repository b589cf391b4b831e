// The q4_K and q6_K x8 layouts' scale decoding and q6_K's top bits, for 16 rows (two groups) in
// 512-bit registers: shared by the AVX-512 tiles (matmul_repacked_q4k.cc, matmul_repacked_q6k.cc)
// and the AMX tiles (amx_q4k.cc, amx_q6k.cc), so both read the layouts the same way.
// Included inside each user's namespace, after it defines SHOAL_KQ_FN (the functions' inline and
// target attributes there), so it has no include guard and no includes of its own.
// NOLINT(build/header_guard)

// 8 bytes at p0 then 8 at p1 (the same 8-row field of two groups).
SHOAL_KQ_FN __m128i Bytes8x2(const uint8_t* p0, const uint8_t* p1) {
  const __m128i lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p0));
  return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(lo), reinterpret_cast<const double*>(p1)));
}

// The same, zero-extended to 16 int32 lanes.
SHOAL_KQ_FN __m512i Bytes16(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_cvtepu8_epi32(Bytes8x2(p0, p1));
}

// q4_K, pair p of sub-blocks (2p, 2p + 1) of one super-block column of each group (c0, c1): the
// 16 rows' 6-bit scales of both sub-blocks, and their mins packed as int16 pairs (2p low, 2p + 1
// high) for one vpmaddwd with the activations' bsums (repack_q4k.h).
struct Q4KPair {
  __m512i sc0, sc1, mins;
};
SHOAL_KQ_FN Q4KPair Q4KScales(const uint8_t* c0, const uint8_t* c1, int p) {
  const __m512i k0f = _mm512_set1_epi32(0xF), k3 = _mm512_set1_epi32(3),
                k30 = _mm512_set1_epi32(0x30);
  const __m512i ls = Bytes16(c0 + 32 + 8 * p, c1 + 32 + 8 * p);
  const __m512i lm = Bytes16(c0 + 64 + 8 * p, c1 + 64 + 8 * p);
  const __m512i hb = Bytes16(c0 + 96 + 8 * p, c1 + 96 + 8 * p);
  Q4KPair r;
  r.sc0 =
      _mm512_or_si512(_mm512_and_si512(ls, k0f), _mm512_slli_epi32(_mm512_and_si512(hb, k3), 4));
  r.sc1 = _mm512_or_si512(_mm512_srli_epi32(ls, 4),
                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, 2), k3), 4));
  const __m512i mn0 = _mm512_or_si512(_mm512_and_si512(lm, k0f), _mm512_and_si512(hb, k30));
  const __m512i mn1 =
      _mm512_or_si512(_mm512_srli_epi32(lm, 4), _mm512_and_si512(_mm512_srli_epi32(hb, 2), k30));
  r.mins = _mm512_or_si512(mn0, _mm512_slli_epi32(mn1, 16));
  return r;
}

// q6_K: the top 2 bits at bits 2c, 2c + 1 of each byte of h, moved to bits 4-5 (16-bit shifts:
// what crosses into a neighbouring byte lands outside bits 4-5 and is masked off).
template <int kC>
SHOAL_KQ_FN __m512i High2(__m512i h, __m512i k30) {
  if constexpr (kC < 2) {
    return _mm512_and_si512(_mm512_slli_epi16(h, 4 - 2 * kC), k30);
  } else if constexpr (kC == 2) {
    return _mm512_and_si512(h, k30);
  } else {
    return _mm512_and_si512(_mm512_srli_epi16(h, 2), k30);
  }
}

// q6_K: the 16 rows' int8 scales of sub-block g, as floats (s0, s1: the scales of each group's
// super-block column, at kQ6KScAt).
SHOAL_KQ_FN __m512 Q6KScales(const uint8_t* s0, const uint8_t* s1, int g) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Bytes8x2(s0 + 8 * g, s1 + 8 * g)));
}
