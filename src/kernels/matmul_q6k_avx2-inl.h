// AVX2 q6_K x q8_K tiles, one part of matmul_simd.cc: included inside its per-target namespace on
// x86 targets with AVX2 (no include guard, no includes of its own).
// NOLINT(build/header_guard)
//
// Values v in [0, 63] (stored +32) dotted unsigned: per super-block sum_g sc_g (v_g . x_g) minus
// 32 sum_g sc_g bsum_g, both as int32 vectors (the scales of a 32-value register, one per
// 128-bit half, come from a byte shuffle of the 8 widened scales of its half-block; the offset is
// one madd of the 16 scales with the 16 bsums), then one float fmadd per super-block into a
// vector accumulator; one horizontal sum per output at the end. RT rows x NT tokens per tile.

// Shuffle masks: low half = int16 lane 2q of a register holding 8 int16 per half, high = 2q + 1.
alignas(32) static constexpr uint8_t kQ6KScaleShuf[4][32] = {
#define SHOAL_SHUF(q)                                                                           \
  {                                                                                             \
    4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1,   \
        4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3, 4 * q + 2,  \
        4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, \
        4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3                                   \
  }
    SHOAL_SHUF(0), SHOAL_SHUF(1), SHOAL_SHUF(2), SHOAL_SHUF(3)};
#undef SHOAL_SHUF

struct Q6KAvx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const int64_t nb = a.k / 256;
      const BlockQ8_K* xs[NT];
      for (int j = 0; j < NT; ++j) {
        xs[j] = reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes);
      }
      const BlockQ6_K* ws[RT];
      for (int i = 0; i < RT; ++i) {
        ws[i] = reinterpret_cast<const BlockQ6_K*>(a.W + (r + i) * a.w_row_bytes);
      }
      __m256 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        for (int i = 0; i < RT; ++i) {
          const BlockQ6_K& b = ws[i][ib];
          const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
          const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);  // the 16 scales
          const float d = _cvtsh_ss(b.d);
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_K& x = xs[j][ib];
            __m256i sumi = _mm256_slli_epi32(
                _mm256_madd_epi16(sc16,
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums))),
                5);  // 32 * sum sc bsum, subtracted below
            sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
            for (int n = 0; n < 2; ++n) {
              const __m256i scn = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(
                  _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales + 8 * n))));
              const __m256i ql0 =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * n));
              const __m256i ql1 =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * n + 32));
              const __m256i qh =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * n));
              __m256i v[4];
              v[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
              v[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
              v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                     _mm256_and_si256(qh, m30));
              v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
              for (int q = 0; q < 4; ++q) {
                const __m256i xv =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * n + 32 * q));
                const __m256i sv = _mm256_shuffle_epi8(
                    scn, _mm256_load_si256(reinterpret_cast<const __m256i*>(kQ6KScaleShuf[q])));
                sumi =
                    _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(v[q], xv), sv));
              }
            }
            acc[i][j] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * x.d), _mm256_cvtepi32_ps(sumi), acc[i][j]);
          }
        }
      }
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r + i] = HSum(acc[i][j]);
      }
    }
  };
};
