// The tile loop the q4_K and q6_K x8 matmuls share on AVX2 targets (and on AVX3 targets of CPUs
// without AVX512-VNNI): included inside their per-target namespaces (q4k, q6k) after each defines
// `TokSide`, `Args` (Wp, group_bytes, nb, xq, side, y, ldy) and `kColBytes` (one super-block
// column of a group); each
// defines `TileY<NG, NT>` (NG groups of 8 rows x NT tokens, one group per 256-bit register) after
// it. No include guard and no includes of its own, as repacked_grid_avx512-inl.h.
// NOLINT(build/header_guard)

// Lines of the weights a tile prefetches: a batch tile, n lines from p into L2 spread evenly over
// its super-block columns (none when n is 0); a decode tile (NT == 1), each column's lines
// kDecodePrefetch bytes ahead of its own stream into L1.
struct PfY {
  const uint8_t* p = nullptr;
  size_t n = 0;
};

template <int NG, int NT>
void TileY(const Args& a, const uint8_t* g, int64_t row, int64_t t, PfY pf);

// Decode prefetch distance in each group's stream (rounded to lines).
constexpr size_t kDecodePrefetch = (kColBytes + 1536) / 64 * 64;

// At the start of super-block column ib of a tile: its share of the prefetches (cols: the NG
// groups' columns ib; acc: the tile's Bresenham counter).
template <int NG, int NT>
HWY_INLINE void PrefetchY(const Args& a, const uint8_t* const* cols, PfY& pf, size_t& acc) {
  if constexpr (NT > 1) {  // Bresenham: n lines over nb columns
    for (acc += pf.n; acc >= static_cast<size_t>(a.nb); acc -= a.nb, pf.p += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(pf.p), _MM_HINT_T1);
    }
  } else {
    for (int i = 0; i < NG; ++i) {
      for (size_t o = 0; o < kColBytes; o += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(cols[i] + kDecodePrefetch + o), _MM_HINT_T0);
      }
    }
  }
}

template <int NG, int NT>
HWY_INLINE void ZeroY(__m256 (&v)[NG][NT]) {
  for (int i = 0; i < NG; ++i) {
    for (int j = 0; j < NT; ++j) v[i][j] = _mm256_setzero_ps();
  }
}

// Super-block column ib of the tile of groups at g x tokens [t, t + NT): the groups' column data
// (cols), the tokens' activation quants (xq) and per-block side values (sd); issues the
// column's share of the prefetches.
template <int NG, int NT>
HWY_INLINE void ColumnY(const Args& a, const uint8_t* g, int64_t t, int64_t ib, PfY& pf,
                        size_t& pf_acc, const uint8_t* (&cols)[NG], const int8_t* (&xq)[NT],
                        const TokSide* (&sd)[NT]) {
  for (int i = 0; i < NG; ++i) cols[i] = g + i * a.group_bytes + ib * kColBytes;
  PrefetchY<NG, NT>(a, cols, pf, pf_acc);
  for (int j = 0; j < NT; ++j) {
    xq[j] = a.xq[(t + j) * a.nb + ib].qs;
    sd[j] = a.side + (t + j) * a.nb + ib;
  }
}

// One tile of nt tokens (1 <= nt <= NT) from t: the instance for that width.
template <int NG, int NT>
HWY_INLINE void TileNY(const Args& a, const uint8_t* g, int64_t row, int64_t t, int nt, PfY pf) {
  if constexpr (NT >= 1) {
    if (nt == NT) return TileY<NG, NT>(a, g, row, t, pf);
    TileNY<NG, NT - 1>(a, g, row, t, nt, pf);
  }
}

// Rows [r0, r1) in chunks of NG groups (then single groups), each chunk x all tokens in
// P = ceil(n_tok / NT) tiles of nearly equal width; while a chunk's tiles run, the next NG groups
// of the range are prefetched into L2, spread over them (as RpGridBatch in matmul_repacked.cc).
template <int NG, int NT>
void GridY(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  const int64_t P = (n_tok + NT - 1) / NT, base = n_tok / P, extra = n_tok % P;
  auto run = [&](int64_t r, auto ng_c) {
    constexpr int ng = decltype(ng_c)::value;
    const uint8_t* g = a.Wp + (r / kRepackRows) * a.group_bytes;
    const int64_t left = (r1 - r) / kRepackRows - ng;
    const uint8_t* next = g + ng * a.group_bytes;
    const size_t lines =
        NT > 1 ? static_cast<size_t>(std::min<int64_t>(left, NG)) * a.group_bytes / 64 : 0;
    int64_t t = 0;
    for (int64_t p = 0; p < P; ++p) {
      const int nt = static_cast<int>(base + (p < extra ? 1 : 0));
      const size_t l0 = lines * p / P, l1 = lines * (p + 1) / P;
      TileNY<ng, NT>(a, g, r, t, nt, PfY{next + 64 * l0, l1 - l0});
      t += nt;
    }
  };
  int64_t r = r0;
  for (; r + NG * kRepackRows <= r1; r += NG * kRepackRows) {
    run(r, std::integral_constant<int, NG>());
  }
  for (; r + kRepackRows <= r1; r += kRepackRows) run(r, std::integral_constant<int, 1>());
}

// Tokens [t, t + NT) of rows [row, row + 8 NG) from the 8-lane sums.
template <int NG, int NT>
HWY_INLINE void StoreTileY(const Args& a, const __m256 (&acc)[NG][NT], int64_t row, int64_t t) {
  for (int i = 0; i < NG; ++i) {
    for (int j = 0; j < NT; ++j) {
      _mm256_storeu_ps(a.y + (t + j) * a.ldy + row + i * kRepackRows, acc[i][j]);
    }
  }
}

// Keeps v in a register at this point: stops the compiler from hoisting every chunk's products
// ahead of the int16 sums (integer adds reassociate), as Pin in matmul_repacked.cc.
HWY_INLINE void PinY(__m256i& v) { asm("" : "+x"(v)); }

// 4 activation bytes at p in every 32-bit lane.
HWY_INLINE __m256i Bcast4Y(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 8 bytes at p, zero- (U) or sign-extended to 8 int32 lanes (one per row of a group).
HWY_INLINE __m256i Bytes8U(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
HWY_INLINE __m256i Bytes8S(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// The 8 rows' f16 scales at p as floats.
HWY_INLINE __m256 Scales8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
