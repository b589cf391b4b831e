// AVX2 q4_K x q8_K tiles, one part of matmul_simd.cc: included inside its per-target namespace on
// x86 targets with AVX2 (no include guard, no includes of its own).
// NOLINT(build/header_guard)
//
// Per super-block (256 values) of a row: the 8 six-bit scales and mins are unpacked with 32-bit
// word masks, the scales broadcast per sub-block by a byte shuffle, the mins dotted with the
// activation's pair-summed bsums by one madd; the integer sums go straight into float vector
// accumulators (d * dx and dmin * dx), with one horizontal sum per output at the end. RT rows x
// NT tokens per tile share the activation loads and keep the weights in L1 across tokens.

// The 8 scales (sc) and 8 mins (m) of a q4_K block as bytes, from its 12 packed scale bytes.
HWY_INLINE void Q4KScaleMins(const uint8_t* s, uint64_t* sc, uint64_t* m) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t sc_lo = u[0] & k6, m_lo = u[1] & k6;
  const uint32_t sc_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  *sc = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *m = m_lo | (static_cast<uint64_t>(m_hi) << 32);
}

// Shuffle masks: all int16 lanes = int16 lane i of a register holding 8 int16 in each half.
alignas(32) static constexpr uint8_t kQ4KScaleShuf[8][32] = {
#define SHOAL_SHUF(i)                                                                             \
  {                                                                                               \
    2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1,     \
        2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, \
        2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, 2 * i, 2 * i + 1, \
        2 * i, 2 * i + 1                                                                          \
  }
    SHOAL_SHUF(0), SHOAL_SHUF(1), SHOAL_SHUF(2), SHOAL_SHUF(3),
    SHOAL_SHUF(4), SHOAL_SHUF(5), SHOAL_SHUF(6), SHOAL_SHUF(7)};
#undef SHOAL_SHUF

struct Q4KAvx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const int64_t nb = a.k / 256;
      const BlockQ8_K* xs[NT];
      for (int j = 0; j < NT; ++j) {
        xs[j] = reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes);
      }
      const BlockQ4_K* ws[RT];
      for (int i = 0; i < RT; ++i) {
        ws[i] = reinterpret_cast<const BlockQ4_K*>(a.W + (r + i) * a.w_row_bytes);
      }
      __m256 accd[RT][NT];
      __m128 accm[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j)
          accd[i][j] = _mm256_setzero_ps(), accm[i][j] = _mm_setzero_ps();
      }
      const __m256i m4 = _mm256_set1_epi8(0xF);
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        for (int i = 0; i < RT; ++i) {
          const BlockQ4_K& b = ws[i][ib];
          uint64_t sc8, m8;
          Q4KScaleMins(b.scales, &sc8, &m8);
          const __m256i scales = _mm256_broadcastsi128_si256(
              _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc8))));
          const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8)));
          const float d = _cvtsh_ss(b.d), dmin = _cvtsh_ss(b.dmin);
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_K& x = xs[j][ib];
            __m256i sumi = _mm256_setzero_si256();
            for (int c = 0; c < 4; ++c) {
              const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
              const __m256i lo = _mm256_and_si256(q, m4);
              const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
              const __m256i xl =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c));
              const __m256i xh =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c + 32));
              const __m256i sl = _mm256_shuffle_epi8(
                  scales,
                  _mm256_load_si256(reinterpret_cast<const __m256i*>(kQ4KScaleShuf[2 * c])));
              const __m256i sh = _mm256_shuffle_epi8(
                  scales,
                  _mm256_load_si256(reinterpret_cast<const __m256i*>(kQ4KScaleShuf[2 * c + 1])));
              sumi = _mm256_add_epi32(
                  sumi, _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), sl),
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), sh)));
            }
            accd[i][j] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * x.d), _mm256_cvtepi32_ps(sumi), accd[i][j]);
            const __m128i bs =
                _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums)),
                               _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8)));
            accm[i][j] = _mm_fmadd_ps(_mm_set1_ps(dmin * x.d),
                                      _mm_cvtepi32_ps(_mm_madd_epi16(mins, bs)), accm[i][j]);
          }
        }
      }
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) {
          __m128 m = accm[i][j];
          m = _mm_add_ps(m, _mm_movehl_ps(m, m));
          m = _mm_add_ss(m, _mm_movehdup_ps(m));
          a.y[(t + j) * a.ldy + r + i] = HSum(accd[i][j]) - _mm_cvtss_f32(m);
        }
      }
    }
  };
};
