// AVX2 tiles for the grid i-quants (iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m)
// against q8_K, one part of matmul_simd.cc: included inside its per-target namespace on x86
// targets with AVX2 (no include guard, no includes of its own).
// NOLINT(build/header_guard)
//
// Each 32 values of a super-block decode to one register of magnitudes in value order and one of
// sign masks: the grid entries (8 or 4 magnitudes each) are gathered by index into 64- or 32-bit
// lanes (one AVX2 gather), the sign bits expand to byte masks (7 stored bits + parity through a
// 128-entry table), and iq1's {-1, 0, 1} become 8 * g +- 1. The signs are applied to the
// activations (xor, subtract), so maddubs takes the magnitudes as they are. The integer sub-block
// scales (per 32 values, or per 16: one per 128-bit half) multiply the pairwise products in the
// widening madd, so a super-block sums in int32 and meets the float scales once: the same integer
// form as UnpackIQBlock (iquants.h), whose scalar dot this matches up to float summation order.

// Bit i of m as byte i: 0xFF where set.
HWY_INLINE __m256i BitsToBytes(uint32_t m) {
  const __m256i v =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}
// SignsFrom7 (iquant_grids.h) of every 7-bit pattern.
struct Signs7Table {
  uint8_t v[128];
  constexpr Signs7Table() : v() {
    for (int i = 0; i < 128; ++i) {
      int bits = 0;
      for (int b = 0; b < 7; ++b) bits += (i >> b) & 1;
      v[i] = static_cast<uint8_t>(i | ((bits & 1) << 7));
    }
  }
};
inline constexpr Signs7Table kSigns7;
// The 4 x 8 sign bits of 32 values from four 7-bit fields at bit 0, 7, 14, 21 of w.
HWY_INLINE uint32_t Signs4x7(uint32_t w) {
  return kSigns7.v[w & 127] | (uint32_t{kSigns7.v[(w >> 7) & 127]} << 8) |
         (uint32_t{kSigns7.v[(w >> 14) & 127]} << 16) |
         (uint32_t{kSigns7.v[(w >> 21) & 127]} << 24);
}
HWY_INLINE __m256i Grid64(const uint64_t* grid, int i0, int i1, int i2, int i3) {
  return _mm256_i32gather_epi64(reinterpret_cast<const long long*>(grid),
                                _mm_setr_epi32(i0, i1, i2, i3), 8);
}
HWY_INLINE __m256i Scales16(int lo, int hi) {  // int16 lanes: lo for values 0..15, hi for 16..31
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)),
                          _mm_set1_epi16(static_cast<int16_t>(lo)));
}
HWY_INLINE uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Values 32s..32s+31 of block b as magnitudes (*w, u8) and byte masks of their signs (*m, 0xFF
// where negative), and their integer scales as int16 lanes (*sc). The signs go onto the
// activations: maddubs(|w|, (x ^ m) - m) = sum w x.
template <DType T>
HWY_INLINE void DecodeIQ32(const uint8_t* b, int s, __m256i* w, __m256i* m, __m256i* sc) {
  if constexpr (T == DType::kIQ2_XXS) {
    const uint8_t* q = b + 2 + 8 * s;
    const uint32_t hi = Load32(q + 4);
    *w = Grid64(kIQ2XXSGrid, q[0], q[1], q[2], q[3]);
    *m = BitsToBytes(Signs4x7(hi));
    *sc = _mm256_set1_epi16(static_cast<int16_t>(2 * (hi >> 28) + 1));
  } else if constexpr (T == DType::kIQ2_XS) {
    uint16_t q[4];
    std::memcpy(q, b + 2 + 8 * s, 8);
    uint32_t signs = 0;
    for (int l = 0; l < 4; ++l) signs |= uint32_t{kSigns7.v[q[l] >> 9]} << (8 * l);
    *w = Grid64(kIQ2XSGrid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
    *m = BitsToBytes(signs);
    const uint8_t scale = b[2 + 64 + s];
    *sc = Scales16(2 * (scale & 0xF) + 1, 2 * (scale >> 4) + 1);
  } else if constexpr (T == DType::kIQ2_S) {
    const uint8_t* q = b + 2 + 4 * s;
    const int h = b[2 + 64 + s];
    *w = Grid64(kIQ2SGrid, q[0] | ((h << 8) & 0x300), q[1] | ((h << 6) & 0x300),
                q[2] | ((h << 4) & 0x300), q[3] | ((h << 2) & 0x300));
    *m = BitsToBytes(Load32(b + 2 + 32 + 4 * s));
    const uint8_t scale = b[2 + 72 + s];
    *sc = Scales16(2 * (scale & 0xF) + 1, 2 * (scale >> 4) + 1);
  } else if constexpr (T == DType::kIQ3_XXS) {
    const uint8_t* q = b + 2 + 8 * s;
    const uint32_t hi = Load32(b + 2 + 64 + 4 * s);
    *w = _mm256_i32gather_epi32(
        reinterpret_cast<const int*>(kIQ3XXSGrid),
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))), 4);
    *m = BitsToBytes(Signs4x7(hi));
    *sc = _mm256_set1_epi16(static_cast<int16_t>(2 * (hi >> 28) + 1));
  } else if constexpr (T == DType::kIQ3_S) {
    const uint8_t* q = b + 2 + 8 * s;
    const int h = b[2 + 64 + s];
    const __m256i hi = _mm256_slli_epi32(
        _mm256_and_si256(
            _mm256_srlv_epi32(_mm256_set1_epi32(h), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
            _mm256_set1_epi32(1)),
        8);
    const __m256i idx = _mm256_or_si256(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))), hi);
    *w = _mm256_i32gather_epi32(reinterpret_cast<const int*>(kIQ3SGrid), idx, 4);
    *m = BitsToBytes(Load32(b + 2 + 72 + 4 * s));
    *sc = _mm256_set1_epi16(
        static_cast<int16_t>(1 + 2 * ((b[2 + 104 + s / 2] >> (4 * (s % 2))) & 0xF)));
  } else if constexpr (T == DType::kIQ1_S) {
    const uint8_t* q = b + 2 + 4 * s;
    const uint16_t h = Load16(b + 2 + 32 + 2 * s);
    const __m256i g = Grid64(kIQ1SGrid, q[0] | ((h << 8) & 0x700), q[1] | ((h << 5) & 0x700),
                             q[2] | ((h << 2) & 0x700), q[3] | ((h >> 1) & 0x700));
    const __m256i v = _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), g),
                                      _mm256_set1_epi8((h & 0x8000) ? -1 : 1));
    *w = _mm256_abs_epi8(v);
    *m = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
    *sc = _mm256_set1_epi16(static_cast<int16_t>(2 * ((h >> 12) & 7) + 1));
  } else {  // kIQ1_M
    const uint8_t* q = b + 4 * s;
    const uint8_t h0 = b[32 + 2 * s], h1 = b[32 + 2 * s + 1];
    const __m256i g = Grid64(kIQ1SGrid, q[0] | ((h0 << 8) & 0x700), q[1] | ((h0 << 4) & 0x700),
                             q[2] | ((h1 << 8) & 0x700), q[3] | ((h1 << 4) & 0x700));
    auto delta = [](int bit) { return static_cast<int64_t>(bit ? -1LL : 0x0101010101010101LL); };
    const __m256i dv =
        _mm256_set_epi64x(delta(h1 & 0x80), delta(h1 & 0x08), delta(h0 & 0x80), delta(h0 & 0x08));
    const __m256i v = _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), g), dv);
    *w = _mm256_abs_epi8(v);
    *m = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
    const int sw = Load16(b + 48 + 2 * (s / 2)) >> (6 * (s % 2));
    *sc = Scales16(2 * (sw & 7) + 1, 2 * ((sw >> 3) & 7) + 1);
  }
}

// The float factor of a block's integer form (iquants.h: d of UnpackIQBlock).
template <DType T>
HWY_INLINE float IQBlockScale(const uint8_t* b) {
  if constexpr (T == DType::kIQ1_M) {
    uint16_t sc[4];
    std::memcpy(sc, b + 48, 8);
    const uint16_t bits = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                                ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    return _cvtsh_ss(bits) * 0.125f;
  } else if constexpr (T == DType::kIQ3_XXS) {
    return H2F(b) * 0.25f;
  } else if constexpr (T == DType::kIQ3_S) {
    return H2F(b);
  } else {
    return H2F(b) * 0.125f;
  }
}

template <DType T>
struct IQGridAvx2 {
  template <int RT, int NT>
  struct K {
    static void Run(const Args& a, int64_t r, int64_t t) {
      const size_t bb = static_cast<size_t>(Info(T).block_bytes);
      const int64_t nb = a.k / 256;
      __m256 acc[RT][NT];
      for (int i = 0; i < RT; ++i) {
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      for (int64_t ib = 0; ib < nb; ++ib) {
        if constexpr (NT == 1) PrefetchUpto(a, ib + 1, nb);
        for (int i = 0; i < RT; ++i) {
          const uint8_t* b = a.W + (r + i) * a.w_row_bytes + ib * bb;
          __m256i w[8], m[8], sc[8];
          for (int s = 0; s < 8; ++s) DecodeIQ32<T>(b, s, &w[s], &m[s], &sc[s]);
          const float d = IQBlockScale<T>(b);
          for (int j = 0; j < NT; ++j) {
            const BlockQ8_K& x =
                reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes)[ib];
            __m256i sumi = _mm256_setzero_si256();
            for (int s = 0; s < 8; ++s) {
              const __m256i xv =
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * s));
              const __m256i xs = _mm256_sub_epi8(_mm256_xor_si256(xv, m[s]), m[s]);
              sumi =
                  _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(w[s], xs), sc[s]));
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

// ---------------------------------------------------------------------------------- prefill
// Tokens t .. t + nt - 1 as x + 128 (unsigned bytes, nt rows of k) and their block scales (nt
// rows of k / 256), shared by every row of a token tile.
HWY_INLINE void UnsignedTokens(const Args& a, int64_t t, int nt, uint8_t* xu, float* dx) {
  const int64_t nb = a.k / 256;
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int j = 0; j < nt; ++j) {
    const BlockQ8_K* xb = reinterpret_cast<const BlockQ8_K*>(a.xq + (t + j) * a.x_row_bytes);
    for (int64_t ib = 0; ib < nb; ++ib) {
      for (int s = 0; s < 8; ++s) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[ib].qs + 32 * s));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(xu + j * a.k + ib * 256 + 32 * s),
                            _mm256_xor_si256(v, k80));
      }
      dx[j * nb + ib] = xb[ib].d;
    }
  }
}

// Prefill on AVX2: rows [r0, r1) x NT tokens given as x + 128 (UnsignedTokens). Each row's
// super-block is decoded once to signed weights (the signs applied to the magnitudes) for all NT
// tokens, so a token costs one maddubs (x + 128 is the unsigned operand) and one madd with the
// scales per 32 values; the excess 128 * sum(w), scaled, is one int32 vector per super-block.
template <DType T>
struct IQPrefillAvx2 {
  template <int NT>
  static void Run(const Args& a, int64_t r0, int64_t r1, int64_t t, const uint8_t* xu,
                  const float* dx) {
    const size_t bb = static_cast<size_t>(Info(T).block_bytes);
    const int64_t nb = a.k / 256;
    const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t r = r0; r < r1; ++r) {
      __m256 acc[NT];
      for (int j = 0; j < NT; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t ib = 0; ib < nb; ++ib) {
        const uint8_t* b = a.W + r * a.w_row_bytes + ib * bb;
        __m256i ws[8], sc[8];
        __m256i corr = _mm256_setzero_si256();
        for (int s = 0; s < 8; ++s) {
          __m256i w, m;
          DecodeIQ32<T>(b, s, &w, &m, &sc[s]);
          ws[s] = _mm256_sub_epi8(_mm256_xor_si256(w, m), m);
          corr = _mm256_add_epi32(corr, _mm256_madd_epi16(_mm256_maddubs_epi16(k80, ws[s]), sc[s]));
        }
        const float d = IQBlockScale<T>(b);
        for (int j = 0; j < NT; ++j) {
          const uint8_t* x = xu + j * a.k + ib * 256;
          __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), corr);
          for (int s = 0; s < 8; ++s) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * s));
            sumi =
                _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(xv, ws[s]), sc[s]));
          }
          acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx[j * nb + ib]), _mm256_cvtepi32_ps(sumi),
                                   acc[j]);
        }
      }
      for (int j = 0; j < NT; ++j) a.y[(t + j) * a.ldy + r] = HSum(acc[j]);
    }
  }
};

// Token tiles of kMaxNT (16 or 4), then halves down to 2, through Rows::Run<NT> (rows one at a
// time, each super-block decoded once per tile); returns the first token left (at most one).
template <class Rows, int kMaxNT>
int64_t IQPrefillTiles(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  int64_t t = 0;
  if (n_tok < 2) return t;
  thread_local std::vector<uint8_t> xu;
  thread_local std::vector<float> dx;
  xu.resize(static_cast<size_t>(16 * a.k));
  dx.resize(static_cast<size_t>(16 * (a.k / 256)));
  auto tiles = [&](auto nt) {
    constexpr int kNT = decltype(nt)::value;
    for (; t + kNT <= n_tok; t += kNT) {
      UnsignedTokens(a, t, kNT, xu.data(), dx.data());
      Rows::template Run<kNT>(a, r0, r1, t, xu.data(), dx.data());
    }
  };
  if constexpr (kMaxNT >= 16) {
    tiles(std::integral_constant<int, 16>());
    tiles(std::integral_constant<int, 8>());
  }
  tiles(std::integral_constant<int, 4>());
  tiles(std::integral_constant<int, 2>());
  return t;
}
