// AVX2 tiles for the 4-bit codebook types (iq4_nl and MXFP4 against q8_0, iq4_xs against q8_K),
// one part of matmul_simd.cc: included inside its per-target namespace on x86 targets with AVX2
// (no include guard, no includes of its own).
// NOLINT(build/header_guard)
//
// The 16-entry codebook sits in both 128-bit lanes of a register; one byte shuffle turns 32
// nibbles into 32 int8 values. Products with the int8 activations use maddubs on |w| and
// sign(x, w) (|w| <= 127, so pair sums fit int16), widened by one madd: with ones (a block's
// scale is a float) or with iq4_xs's 6-bit sub-block scale (an integer, so the 8 sub-blocks of a
// super-block sum in int32 and meet the float scales once). RT rows x NT tokens per tile; each
// row's blocks are decoded once and reused for the NT tokens.

HWY_INLINE __m256i CodebookTable(const int8_t* values) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values)));
}
// 32 values (value j and j + 16 in byte j of qs) through the codebook.
HWY_INLINE __m256i Lookup32(__m256i table, const uint8_t* qs) {
  return _mm256_shuffle_epi8(table, Q4Nibbles(qs));
}
// Pairwise int16 sums of w[i] * x[i].
HWY_INLINE __m256i MulPairs(__m256i w, __m256i x) {
  return _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}
// MXFP4's E8M0 scale halved, 2^(e - 128), as float bits (denormal for e < 2).
HWY_INLINE float E8M0HalfBits(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// iq4_nl / MXFP4 x q8_0. kDot (int8_dot.h): 0 maddubs + madd, 1 / 2 vpdpbusd.
template <DType T, int kDot>
struct IQ4Q32Avx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      constexpr bool kNL = T == DType::kIQ4_NL;
      constexpr size_t kBytes = kNL ? sizeof(BlockIQ4_NL) : sizeof(BlockMXFP4);
      const int64_t nb = a.k / 32;
      const __m256i table = CodebookTable(kNL ? kIQ4NLValues : kMXFP4Values);
      const __m256i ones = _mm256_set1_epi16(1);
      __m256 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        for (int i = 0; i < RT; ++i) {
          const uint8_t* b = a.W + (r + i) * a.w_row_bytes + ib * kBytes;
          const float dw = kNL ? H2F(b) : E8M0HalfBits(b[0]);
          const __m256i w = Lookup32(table, b + (kNL ? 2 : 1));
          const __m256i wa = _mm256_sign_epi8(w, w);  // |w|, once for the NT tokens
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_0& x =
                reinterpret_cast<const BlockQ8_0*>(a.xq + (t + j) * a.x_row_bytes)[ib];
            const __m256i xs =
                _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)), w);
            __m256i s;
            if constexpr (kDot != 0) {
              s = Dpbusd<kDot>(_mm256_setzero_si256(), wa, xs);
            } else {
              s = _mm256_madd_epi16(_mm256_maddubs_epi16(wa, xs), ones);
            }
            acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * _cvtsh_ss(x.d)), _mm256_cvtepi32_ps(s),
                                        acc[i][j]);
          }
        }
      }
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r + i] = HSum(acc[i][j]);
      }
    }
  };
};

// The 8 six-bit scales of an iq4_xs block minus 32, each spread over the 16 int16 lanes of
// sc[s]: low nibbles from scales_l, 2 high bits each from scales_h (scales_h << (14 - 2 s) puts
// sub-block s's bits at bits 14..15), then one byte shuffle per sub-block.
HWY_INLINE void IQ4XSScales(const BlockIQ4_XS& b, __m256i sc[8]) {
  const __m128i l4 = _mm_cvtsi32_si128(static_cast<int>(Load32(b.scales_l)));
  const __m128i nib = _mm_cvtepu8_epi16(
      _mm_unpacklo_epi8(_mm_and_si128(l4, _mm_set1_epi8(0xF)),
                        _mm_and_si128(_mm_srli_epi16(l4, 4), _mm_set1_epi8(0xF))));
  const __m128i hv =
      _mm_mullo_epi16(_mm_set1_epi16(static_cast<int16_t>(b.scales_h)),
                      _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1));
  const __m256i ls = _mm256_broadcastsi128_si256(
      _mm_sub_epi16(_mm_or_si128(nib, _mm_and_si128(_mm_srli_epi16(hv, 10), _mm_set1_epi16(0x30))),
                    _mm_set1_epi16(32)));
  for (int s = 0; s < 8; ++s) {  // bytes 2s, 2s + 1 into every int16 lane
    sc[s] = _mm256_shuffle_epi8(
        ls, _mm256_set1_epi16(static_cast<int16_t>(((2 * s + 1) << 8) | (2 * s))));
  }
}

// iq4_xs x q8_K.
struct IQ4XSAvx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const int64_t nb = a.k / 256;
      const __m256i table = CodebookTable(kIQ4NLValues);
      __m256 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        for (int i = 0; i < RT; ++i) {
          const BlockIQ4_XS& b =
              reinterpret_cast<const BlockIQ4_XS*>(a.W + (r + i) * a.w_row_bytes)[ib];
          __m256i w[8], sc[8];
          for (int s = 0; s < 8; ++s) w[s] = Lookup32(table, b.qs + 16 * s);
          IQ4XSScales(b, sc);
          const float d = _cvtsh_ss(b.d);
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_K& x =
                reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes)[ib];
            __m256i sumi = _mm256_setzero_si256();
            for (int s = 0; s < 8; ++s) {
              const __m256i xv =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * s));
              sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(MulPairs(w[s], xv), sc[s]));
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
