// The tile loop the q4_K and q6_K x8 matmuls share on AVX3 targets: included inside their
// per-target namespaces (q4k, q6k) after each defines `Args` (Wp, group_bytes, y, ldy); each
// defines `TileZ<NT>` (2 groups of rows x NT tokens, 1 <= NT <= 4) after it. No include guard and
// no includes of its own, as dpbusd_avx512-inl.h.
// NOLINT(build/header_guard)

template <int NT>
void TileZ(const Args& a, const uint8_t* g0, const uint8_t* g1, int64_t row, int64_t t, bool two);

// Tokens [t, t + NT) of rows [row, row + 16) (the first 8 only when !two) from the 16-lane sums.
template <int NT>
HWY_INLINE void StoreTileZ(const Args& a, const __m512* acc, int64_t row, int64_t t, bool two) {
  for (int j = 0; j < NT; ++j) {
    float* out = a.y + (t + j) * a.ldy + row;
    _mm256_storeu_ps(out, _mm512_castps512_ps256(acc[j]));
    if (two) {
      _mm256_storeu_ps(out + kRepackRows,
                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[j]), 1)));
    }
  }
}

template <int NT = 4>
HWY_INLINE void TileN(const Args& a, const uint8_t* g0, const uint8_t* g1, int64_t row, int64_t t,
                      int nt, bool two) {
  if constexpr (NT >= 1) {
    if (nt == NT) return TileZ<NT>(a, g0, g1, row, t, two);
    TileN<NT - 1>(a, g0, g1, row, t, nt, two);
  }
}

// Rows [r0, r1) in chunks of 2 groups (a lone last group runs as both halves, its copy not
// stored), each chunk x all tokens in tiles of nearly equal width, at most 4.
inline void Grid(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  constexpr int64_t kNtMax = 4;
  const int64_t P = (n_tok + kNtMax - 1) / kNtMax, base = n_tok / P, extra = n_tok % P;
  for (int64_t r = r0; r < r1; r += 2 * kRepackRows) {
    const bool two = r + 2 * kRepackRows <= r1;
    const uint8_t* g0 = a.Wp + (r / kRepackRows) * a.group_bytes;
    const uint8_t* g1 = two ? g0 + a.group_bytes : g0;
    int64_t t = 0;
    for (int64_t p = 0; p < P; ++p) {
      const int nt = static_cast<int>(base + (p < extra ? 1 : 0));
      TileN(a, g0, g1, r, t, nt, two);
      t += nt;
    }
  }
}
