// AVX2 integer block dots for every quant type (maddubs / madd), one part of matmul_simd.cc.
// Included by matmul_simd.cc inside its per-target namespace, once per x86 target that has AVX2
// (the target attributes are already on), so it has no include guard and no includes of its own.
// NOLINT(build/header_guard)

// ------------------------------------------------------------------------- AVX2 integer dots
HWY_INLINE float H2F(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
HWY_INLINE __m256i Q4Nibbles(const uint8_t* qs) {  // 32 values 0..15 (value j, j+16 in byte j)
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0xF);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}
HWY_INLINE float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
HWY_INLINE int32_t HSumI(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Per token of a tile: the activation scales as floats and the sum of each block's quants, so
// unsigned weight nibbles can be dotted without sign fix-ups (sum (q - o) x = sum q x - o sum x).
struct Q8_0Side {
  std::vector<float> dx;
  std::vector<int32_t> sx;
  void Fill(const BlockQ8_0* x, int64_t nb) {
    dx.resize(nb);
    sx.resize(nb);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t ib = 0; ib < nb; ++ib) {
      dx[ib] = _cvtsh_ss(x[ib].d);
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[ib].qs));
      sx[ib] = HSumI(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, xv), _mm256_set1_epi16(1)));
    }
  }
};

thread_local Q8_0Side g_side[4];

// Bit i of the 32-bit word at p, as byte i: 0x10 if set, else 0.
HWY_INLINE __m256i HighBits5(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  const __m256i v =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i mask = _mm256_set1_epi64x(0x8040201008040201LL);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask),
                          _mm256_set1_epi8(0x10));
}

template <DType T>
struct Q32Avx2 {
  static constexpr bool kQ8 = T == DType::kQ8_0;
  static constexpr bool kMin = T == DType::kQ4_1 || T == DType::kQ5_1;
  static constexpr bool kFive = T == DType::kQ5_0 || T == DType::kQ5_1;
  static constexpr int kOffset = T == DType::kQ4_0 ? 8 : T == DType::kQ5_0 ? 16 : 0;
  static constexpr size_t kBlockBytes = T == DType::kQ4_0   ? sizeof(BlockQ4_0)
                                        : T == DType::kQ4_1 ? sizeof(BlockQ4_1)
                                        : T == DType::kQ5_0 ? sizeof(BlockQ5_0)
                                        : T == DType::kQ5_1 ? sizeof(BlockQ5_1)
                                                            : sizeof(BlockQ8_0);
  static constexpr size_t kQsAt = kBlockBytes - (kQ8 ? 32 : 16);  // qs is last in every block
  // Unsigned (or, for q8_0, signed) quants of the block at blk.
  static HWY_INLINE __m256i Unpack(const uint8_t* blk) {
    if constexpr (kQ8) {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQsAt));
    } else {
      const __m256i b = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQsAt)));
      __m256i v = _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                   _mm256_set1_epi8(0xF));
      if constexpr (kFive) v = _mm256_or_si256(v, HighBits5(blk + kQsAt - 4));
      return v;
    }
  }
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      Q8_0Side* side = g_side;
      const int64_t nb = a.k / 32;
      const BlockQ8_0* xs[NT];
      for (int j = 0; j < NT; ++j) {
        xs[j] = reinterpret_cast<const BlockQ8_0*>(a.xq + (t + j) * a.x_row_bytes);
        // the side data depend only on the token: refill when the tile moves to new tokens
        if (a.side_token[j] != t + j) {
          side[j].Fill(xs[j], nb);
          a.side_token[j] = t + j;
        }
      }
      __m256 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      const uint8_t* rows[RT];
      for (int i = 0; i < RT; ++i) rows[i] = a.W + (r + i) * a.w_row_bytes;
      const __m256i ones16 = _mm256_set1_epi16(1);
      for (int64_t ib = 0; ib < nb; ++ib) {
        __m256i w[RT];
        __m256 dwv[RT];
        float dw[RT], mw[RT];
        for (int i = 0; i < RT; ++i) {
          const uint8_t* blk = rows[i] + ib * kBlockBytes;
          w[i] = Unpack(blk);
          dw[i] = H2F(blk);
          mw[i] = kMin ? H2F(blk + 2) : 0.0f;
        }
        // broadcasts from memory use a load port, not the shuffle port
        for (int i = 0; i < RT; ++i) dwv[i] = _mm256_broadcast_ss(&dw[i]);
        for (int j = 0; j < NT; ++j) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[j][ib].qs));
          const float dx = side[j].dx[ib];
          const __m256 dxv = _mm256_broadcast_ss(&side[j].dx[ib]);
          const int32_t sx = side[j].sx[ib];
          for (int i = 0; i < RT; ++i) {
            __m256i p32;
            if constexpr (kQ8) {
              p32 = _mm256_madd_epi16(
                  _mm256_maddubs_epi16(_mm256_sign_epi8(w[i], w[i]), _mm256_sign_epi8(xv, w[i])),
                  ones16);
            } else {
              p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(w[i], xv), ones16);
              if constexpr (kOffset != 0) {
                p32 =
                    _mm256_sub_epi32(p32, _mm256_zextsi128_si256(_mm_cvtsi32_si128(kOffset * sx)));
              }
            }
            acc[i][j] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_mul_ps(dwv[i], dxv), acc[i][j]);
            if constexpr (kMin) {
              const float m = mw[i] * dx * static_cast<float>(sx);
              acc[i][j] = _mm256_add_ps(acc[i][j], _mm256_zextps128_ps256(_mm_set_ss(m)));
            }
          }
        }
      }
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r + i] = HSum(acc[i][j]);
      }
    }
  };
};

// q5_K: like q4_K with a fifth bit per value from qh (bit 2j: low nibbles of chunk j, 2j+1: high).
HWY_INLINE float DotQ5K(const BlockQ5_K& b, const BlockQ8_K& x) {
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) ScaleMinK4(b.scales, j, &sc[j], &mn[j]);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i m1 = _mm256_set1_epi8(1);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
  __m256i acc = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * j));
    const __m128i sh_lo = _mm_cvtsi32_si128(2 * j), sh_hi = _mm_cvtsi32_si128(2 * j + 1);
    const __m256i hl = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sh_lo), m1), 4);
    const __m256i hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sh_hi), m1), 4);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), hl);
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hh);
    const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * j));
    const __m256i xh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * j + 32));
    const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl),
                                         _mm256_set1_epi16(static_cast<int16_t>(sc[2 * j])));
    const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh),
                                         _mm256_set1_epi16(static_cast<int16_t>(sc[2 * j + 1])));
    acc = _mm256_add_epi32(acc, _mm256_add_epi32(pl, ph));
  }
  int msum = 0;
  for (int j = 0; j < 8; ++j) msum += mn[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
  return x.d * (_cvtsh_ss(b.d) * static_cast<float>(HSumI(acc)) -
                _cvtsh_ss(b.dmin) * static_cast<float>(msum));
}

// q2_K / q3_K share the 2-bit layout: 32 bytes of qs per 128 values, 2 bits per 32-value group.
// kQ3: add hmask bit (value v = low2 | h << 2, offset 4); else unsigned with 4-bit scale/min.
template <bool kQ3>
HWY_INLINE __m256i DotQ23Body(const uint8_t* qs, const uint8_t* hmask, const int* sc,
                              const BlockQ8_K& x) {
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i m1 = _mm256_set1_epi8(1);
  __m256i hm =
      kQ3 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hmask)) : _mm256_setzero_si256();
  __m256i acc = _mm256_setzero_si256();
  for (int n = 0; n < 2; ++n) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * n));
    for (int s = 0; s < 4; ++s) {
      __m256i v = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * s)), m3);
      if constexpr (kQ3) {
        const __m256i h = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * n + s)), m1);
        v = _mm256_or_si256(v, _mm256_slli_epi16(h, 2));
      }
      const __m256i xv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * n + 32 * s));
      const int* c = sc + 8 * n + 2 * s;
      const __m256i sv = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(c[1])),
                                          _mm_set1_epi16(static_cast<int16_t>(c[0])));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(v, xv), sv));
    }
  }
  return acc;
}

HWY_INLINE float DotQ3K(const BlockQ3_K& b, const BlockQ8_K& x) {
  int sc[16], off = 0;
  for (int j = 0; j < 16; ++j) {
    sc[j] = ScaleQ3K(b.scales, j);
    off += sc[j] * x.bsums[j];
  }
  const int32_t isum = HSumI(DotQ23Body<true>(b.qs, b.hmask, sc, x)) - 4 * off;
  return x.d * _cvtsh_ss(b.d) * static_cast<float>(isum);
}

HWY_INLINE float DotQ2K(const BlockQ2_K& b, const BlockQ8_K& x) {
  int sc[16], msum = 0;
  for (int j = 0; j < 16; ++j) {
    sc[j] = b.scales[j] & 0xF;
    msum += (b.scales[j] >> 4) * x.bsums[j];
  }
  const int32_t isum = HSumI(DotQ23Body<false>(b.qs, nullptr, sc, x));
  return x.d *
         (_cvtsh_ss(b.d) * static_cast<float>(isum) - _cvtsh_ss(b.dmin) * static_cast<float>(msum));
}

template <class B, float (*Dot)(const B&, const BlockQ8_K&)>
struct KQuantAvx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const int64_t nb = a.k / 256;
      for (int i = 0; i < RT; ++i) {
        const B* w = reinterpret_cast<const B*>(a.W + (r + i) * a.w_row_bytes);
        float acc[NT] = {};
        for (int64_t ib = 0; ib < nb; ++ib) {
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes);
            acc[j] += Dot(w[ib], x[ib]);
          }
        }
        for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r + i] = acc[j];
      }
    }
  };
};
