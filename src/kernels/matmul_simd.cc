// SIMD matmul, activation conversion and dequantization, compiled once per Highway target and
// dispatched once per call. On x86 targets with AVX2 the integer block dots use hand-written
// AVX2 (maddubs) kernels for q4_0, q8_0, q4_K and q6_K; the portable Highway path covers float
// weights and q4_0 / q8_0 (int16 widening multiply-add); other types use the scalar twin.
//
// Tiling: rows are processed RT at a time and tokens NT at a time, so each weight block loaded
// from memory is reused for NT tokens (prefill is compute bound) while decode (NT = 1) keeps RT
// independent accumulator chains per token.
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#undef SHOAL_MM_AVX2
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define SHOAL_MM_AVX2 1
#else
#define SHOAL_MM_AVX2 0
#endif

struct Args {
  const uint8_t* W;
  size_t w_row_bytes;
  int64_t k;
  const uint8_t* xq;
  size_t x_row_bytes;
  float* y;
  int64_t ldy;
  mutable int64_t side_token[4] = {-1, -1, -1, -1};  // tokens whose side data are cached
};

// Runs Kernel<RT, NT>(a, r, t) over the [r0, r1) x [0, n_tok) grid: token tiles of 4 with RT4
// rows (prefill), then single tokens with RT1 rows, then leftover rows one at a time.
template <int RT4, int RT1, template <int, int> class Kernel>
void Grid(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  int64_t t = 0;
  for (; t + 4 <= n_tok; t += 4) {
    int64_t r = r0;
    for (; r + RT4 <= r1; r += RT4) Kernel<RT4, 4>::Run(a, r, t);
    for (; r < r1; ++r) Kernel<1, 4>::Run(a, r, t);
  }
  for (; t < n_tok; ++t) {
    int64_t r = r0;
    for (; r + RT1 <= r1; r += RT1) Kernel<RT1, 1>::Run(a, r, t);
    for (; r < r1; ++r) Kernel<1, 1>::Run(a, r, t);
  }
}

// ------------------------------------------------------------------ float weights (portable)
template <DType T>
struct FloatW {
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Load(DF df, const uint8_t* row, int64_t i) {
    if constexpr (T == DType::kF32) {
      return hn::LoadU(df, reinterpret_cast<const float*>(row) + i);
    } else if constexpr (T == DType::kF16) {
      const hn::Rebind<hwy::float16_t, DF> dh;
      return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + i));
    } else {
      const hn::Rebind<hwy::bfloat16_t, DF> db;
      return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(row) + i));
    }
  }
  static float One(const uint8_t* row, int64_t i) {
    if constexpr (T == DType::kF32) return reinterpret_cast<const float*>(row)[i];
    const uint16_t h = reinterpret_cast<const uint16_t*>(row)[i];
    return T == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
  }
};

template <DType T>
void MatMulFloat(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = a.W + r * a.w_row_bytes;
    for (int64_t t = 0; t < n_tok; ++t) {
      const float* x = reinterpret_cast<const float*>(a.xq + t * a.x_row_bytes);
      auto s0 = hn::Zero(df), s1 = hn::Zero(df);
      int64_t i = 0;
      for (; i + 2 * N <= a.k; i += 2 * N) {
        s0 = hn::MulAdd(FloatW<T>::Load(df, row, i), hn::LoadU(df, x + i), s0);
        s1 = hn::MulAdd(FloatW<T>::Load(df, row, i + N), hn::LoadU(df, x + i + N), s1);
      }
      for (; i + N <= a.k; i += N) {
        s0 = hn::MulAdd(FloatW<T>::Load(df, row, i), hn::LoadU(df, x + i), s0);
      }
      float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
      for (; i < a.k; ++i) s += FloatW<T>::One(row, i) * x[i];
      a.y[t * a.ldy + r] = s;
    }
  }
}

// ------------------------------------------------- q4_0 / q8_0, portable Highway (int16 lanes)
template <DType T>
void MatMulQ32Portable(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  const hn::CappedTag<int16_t, 16> d16;  // at most 16 lanes: divides a block
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const size_t N = hn::Lanes(d16);
  const int64_t nb = a.k / 32;
  constexpr size_t kBlockBytes = T == DType::kQ4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  int8_t wq[32];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = a.W + r * a.w_row_bytes;
    for (int64_t t = 0; t < n_tok; ++t) {
      const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(a.xq + t * a.x_row_bytes);
      float sum = 0;
      for (int64_t ib = 0; ib < nb; ++ib) {
        const uint8_t* blk = row + ib * kBlockBytes;
        uint16_t dw_bits;
        std::memcpy(&dw_bits, blk, 2);
        const int8_t* w8;
        if constexpr (T == DType::kQ4_0) {
          for (int i = 0; i < 16; ++i) {
            wq[i] = static_cast<int8_t>((blk[2 + i] & 0xF) - 8);
            wq[i + 16] = static_cast<int8_t>((blk[2 + i] >> 4) - 8);
          }
          w8 = wq;
        } else {
          w8 = reinterpret_cast<const int8_t*>(blk + 2);
        }
        auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
        for (size_t i = 0; i < 32; i += N) {
          const auto wv = hn::PromoteTo(d16, hn::LoadU(d8, w8 + i));
          const auto xv = hn::PromoteTo(d16, hn::LoadU(d8, x[ib].qs + i));
          s0 = hn::ReorderWidenMulAccumulate(d32, wv, xv, s0, s1);
        }
        const int32_t isum = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
        sum += F16ToF32(dw_bits) * F16ToF32(x[ib].d) * static_cast<float>(isum);
      }
      a.y[t * a.ldy + r] = sum;
    }
  }
}

// ------------------------------------------ other quants, portable: unpack once, dot per token
// One weight block as signed int8 values in groups that share an integer scale, plus the float
// factors: dot = d * dx * sum_g sc[g] * (v_g . x_g) - dmin * dx * sum_g mn[g] * sum(x_g).
struct Unpacked {
  int8_t v[256];
  int32_t sc[16], mn[16];
  int groups, group_len;
  float d, dmin;
};

inline int NibAt(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }

void UnpackBlock(DType t, const uint8_t* p, Unpacked* u) {
  u->dmin = 0;
  for (int g = 0; g < 16; ++g) u->sc[g] = 1, u->mn[g] = 0;
  switch (t) {
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const bool five = t != DType::kQ4_1, has_min = t != DType::kQ5_0;
      const uint8_t* qs = p + (t == DType::kQ4_1 ? 4 : t == DType::kQ5_0 ? 6 : 8);
      uint32_t qh = 0;
      if (five) std::memcpy(&qh, qs - 4, 4);
      for (int i = 0; i < 32; ++i) {
        const int q = NibAt(qs, i) | (five ? ((qh >> i) & 1) << 4 : 0);
        u->v[i] = static_cast<int8_t>(q - (t == DType::kQ5_0 ? 16 : 0));
      }
      u->groups = 1, u->group_len = 32;
      u->d = F16ToF32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      if (has_min) u->dmin = -F16ToF32(static_cast<uint16_t>(p[2] | (p[3] << 8)));  // + m sum x
      break;
    }
    case DType::kQ2_K:
    case DType::kQ3_K: {
      const bool q3 = t == DType::kQ3_K;
      const BlockQ2_K* b2 = reinterpret_cast<const BlockQ2_K*>(p);
      const BlockQ3_K* b3 = reinterpret_cast<const BlockQ3_K*>(p);
      const uint8_t* qs = q3 ? b3->qs : b2->qs;
      for (int n = 0; n < 2; ++n) {
        for (int sh = 0; sh < 4; ++sh) {
          for (int l = 0; l < 32; ++l) {
            int q = (qs[32 * n + l] >> (2 * sh)) & 3;
            if (q3) q -= ((b3->hmask[l] >> (4 * n + sh)) & 1) ? 0 : 4;
            u->v[128 * n + 32 * sh + l] = static_cast<int8_t>(q);
          }
        }
      }
      for (int g = 0; g < 16; ++g) {
        u->sc[g] = q3 ? ScaleQ3K(b3->scales, g) : b2->scales[g] & 0xF;
        u->mn[g] = q3 ? 0 : b2->scales[g] >> 4;
      }
      u->groups = 16, u->group_len = 16;
      u->d = F16ToF32(q3 ? b3->d : b2->d);
      u->dmin = q3 ? 0 : F16ToF32(b2->dmin);
      break;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = t == DType::kQ5_K;
      const BlockQ4_K* b4 = reinterpret_cast<const BlockQ4_K*>(p);
      const BlockQ5_K* b5 = reinterpret_cast<const BlockQ5_K*>(p);
      const uint8_t* qs = five ? b5->qs : b4->qs;
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t b = qs[32 * j + l];
          int lo = b & 0xF, hi = b >> 4;
          if (five) {
            lo |= ((b5->qh[l] >> (2 * j)) & 1) << 4;
            hi |= ((b5->qh[l] >> (2 * j + 1)) & 1) << 4;
          }
          u->v[64 * j + l] = static_cast<int8_t>(lo);
          u->v[64 * j + 32 + l] = static_cast<int8_t>(hi);
        }
      }
      for (int g = 0; g < 8; ++g)
        ScaleMinK4(five ? b5->scales : b4->scales, g, &u->sc[g], &u->mn[g]);
      u->groups = 8, u->group_len = 32;
      u->d = F16ToF32(five ? b5->d : b4->d);
      u->dmin = F16ToF32(five ? b5->dmin : b4->dmin);
      break;
    }
    default: {  // kQ6_K
      const BlockQ6_K* b = reinterpret_cast<const BlockQ6_K*>(p);
      for (int n = 0; n < 2; ++n) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t a0 = b->ql[64 * n + l], a1 = b->ql[64 * n + 32 + l], h = b->qh[32 * n + l];
          int8_t* v = u->v + 128 * n + l;
          v[0] = static_cast<int8_t>(((a0 & 0xF) | ((h & 3) << 4)) - 32);
          v[32] = static_cast<int8_t>(((a1 & 0xF) | (((h >> 2) & 3) << 4)) - 32);
          v[64] = static_cast<int8_t>(((a0 >> 4) | (((h >> 4) & 3) << 4)) - 32);
          v[96] = static_cast<int8_t>(((a1 >> 4) | (((h >> 6) & 3) << 4)) - 32);
        }
      }
      for (int g = 0; g < 16; ++g) u->sc[g] = b->scales[g];
      u->groups = 16, u->group_len = 16;
      u->d = F16ToF32(b->d);
      break;
    }
  }
}

// Sum of a[i] * b[i] over n (a multiple of 16) int8 values.
HWY_INLINE int32_t DotI8(const int8_t* a, const int8_t* b, int n) {
  const hn::CappedTag<int16_t, 16> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const int N = static_cast<int>(hn::Lanes(d16));
  auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
  for (int i = 0; i < n; i += N) {
    s0 = hn::ReorderWidenMulAccumulate(d32, hn::PromoteTo(d16, hn::LoadU(d8, a + i)),
                                       hn::PromoteTo(d16, hn::LoadU(d8, b + i)), s0, s1);
  }
  return hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
}

void MatMulUnpacked(DType t, const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  const bool k_quant = Info(t).block_values == 256;
  const int64_t bv = k_quant ? 256 : 32;
  const size_t bb = static_cast<size_t>(Info(t).block_bytes);
  const int64_t nb = a.k / bv;
  Unpacked u;
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t t0 = 0; t0 < n_tok; t0 += 8) {  // tokens in tiles of 8 share each unpack
      const int64_t nt = n_tok - t0 < 8 ? n_tok - t0 : 8;
      float acc[8] = {};
      for (int64_t ib = 0; ib < nb; ++ib) {
        UnpackBlock(t, a.W + r * a.w_row_bytes + ib * bb, &u);
        for (int64_t j = 0; j < nt; ++j) {
          const uint8_t* xrow = a.xq + (t0 + j) * a.x_row_bytes;
          int32_t isum = 0, msum = 0;
          float dx;
          if (k_quant) {
            const BlockQ8_K& x = reinterpret_cast<const BlockQ8_K*>(xrow)[ib];
            for (int g = 0; g < u.groups; ++g) {
              isum += u.sc[g] * DotI8(u.v + g * u.group_len, x.qs + g * u.group_len, u.group_len);
              const int per = u.group_len / 16;
              int bs = 0;
              for (int e = 0; e < per; ++e) bs += x.bsums[g * per + e];
              msum += u.mn[g] * bs;
            }
            dx = x.d;
          } else {
            const BlockQ8_0& x = reinterpret_cast<const BlockQ8_0*>(xrow)[ib];
            isum = DotI8(u.v, x.qs, 32);
            for (int i = 0; i < 32; ++i) msum += x.qs[i];
            dx = F16ToF32(x.d);
          }
          acc[j] += dx * (u.d * static_cast<float>(isum) - u.dmin * static_cast<float>(msum));
        }
      }
      for (int64_t j = 0; j < nt; ++j) a.y[(t0 + j) * a.ldy + r] = acc[j];
    }
  }
}

#if SHOAL_MM_AVX2
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

// q4_K: one super-block (256 values) of one row against one q8_K block.
HWY_INLINE float DotQ4K(const BlockQ4_K& b, const BlockQ8_K& x) {
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) ScaleMinK4(b.scales, j, &sc[j], &mn[j]);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256i acc = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * j));
    const __m256i lo = _mm256_and_si256(q, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
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

// q6_K: values v in [0, 63] (stored +32): sum sc * (v . x) - 32 * sum sc * bsum.
HWY_INLINE float DotQ6K(const BlockQ6_K& b, const BlockQ8_K& x) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  __m256i acc = _mm256_setzero_si256();
  for (int n = 0; n < 2; ++n) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * n));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * n + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * n));
    __m256i v[4];
    v[0] =
        _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    v[1] =
        _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    v[2] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    for (int q = 0; q < 4; ++q) {
      const __m256i xv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * n + 32 * q));
      const int8_t* s = b.scales + 8 * n + 2 * q;
      const __m256i sv = _mm256_set_m128i(_mm_set1_epi16(s[1]), _mm_set1_epi16(s[0]));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(v[q], xv), sv));
    }
  }
  int off = 0;
  for (int j = 0; j < 16; ++j) off += b.scales[j] * x.bsums[j];
  return x.d * _cvtsh_ss(b.d) * static_cast<float>(HSumI(acc) - 32 * off);
}

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
#endif  // SHOAL_MM_AVX2

void MatMulT(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
             float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const Args a{static_cast<const uint8_t*>(W), w_row_bytes, k,  static_cast<const uint8_t*>(xq),
               ActivationRowBytes(w, k),       y,           ldy};
  switch (w) {
    case DType::kF32:
      return MatMulFloat<DType::kF32>(a, n_tok, r0, r1);
    case DType::kF16:
      return MatMulFloat<DType::kF16>(a, n_tok, r0, r1);
    case DType::kBF16:
      return MatMulFloat<DType::kBF16>(a, n_tok, r0, r1);
#if SHOAL_MM_AVX2
    case DType::kQ4_0:
      return Grid<2, 4, Q32Avx2<DType::kQ4_0>::K>(a, n_tok, r0, r1);
    case DType::kQ8_0:
      return Grid<2, 4, Q32Avx2<DType::kQ8_0>::K>(a, n_tok, r0, r1);
    case DType::kQ4_1:
      return Grid<2, 4, Q32Avx2<DType::kQ4_1>::K>(a, n_tok, r0, r1);
    case DType::kQ5_0:
      return Grid<2, 4, Q32Avx2<DType::kQ5_0>::K>(a, n_tok, r0, r1);
    case DType::kQ5_1:
      return Grid<2, 4, Q32Avx2<DType::kQ5_1>::K>(a, n_tok, r0, r1);
    case DType::kQ4_K:
      return Grid<1, 1, KQuantAvx2<BlockQ4_K, DotQ4K>::K>(a, n_tok, r0, r1);
    case DType::kQ6_K:
      return Grid<1, 1, KQuantAvx2<BlockQ6_K, DotQ6K>::K>(a, n_tok, r0, r1);
    case DType::kQ5_K:
      return Grid<1, 1, KQuantAvx2<BlockQ5_K, DotQ5K>::K>(a, n_tok, r0, r1);
    case DType::kQ3_K:
      return Grid<1, 1, KQuantAvx2<BlockQ3_K, DotQ3K>::K>(a, n_tok, r0, r1);
    case DType::kQ2_K:
      return Grid<1, 1, KQuantAvx2<BlockQ2_K, DotQ2K>::K>(a, n_tok, r0, r1);
#else
    case DType::kQ4_0:
      return MatMulQ32Portable<DType::kQ4_0>(a, n_tok, r0, r1);
    case DType::kQ8_0:
      return MatMulQ32Portable<DType::kQ8_0>(a, n_tok, r0, r1);
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return MatMulUnpacked(w, a, n_tok, r0, r1);
#endif
    default:
      return scalar::MatMul(w, W, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
  }
}

// Dequantization: float types and q8_0 / q4_0 vectorized (same single multiply as the scalar
// twin, so bit-identical); the rest forward to the scalar twin.
void DequantizeRowT(DType t, const void* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  if (t == DType::kF16 || t == DType::kBF16) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    int64_t i = 0;
    if (t == DType::kF16) {
      for (; i + N <= n; i += N) hn::StoreU(FloatW<DType::kF16>::Load(df, p, i), df, dst + i);
    } else {
      for (; i + N <= n; i += N) hn::StoreU(FloatW<DType::kBF16>::Load(df, p, i), df, dst + i);
    }
    for (; i < n; ++i) {
      dst[i] = t == DType::kF16 ? FloatW<DType::kF16>::One(p, i) : FloatW<DType::kBF16>::One(p, i);
    }
    return;
  }
  if (t == DType::kQ8_0 && N <= 32 && 32 % N == 0) {
    const hn::Rebind<int32_t, decltype(df)> di;
    const hn::Rebind<int8_t, decltype(df)> d8;
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
    for (int64_t ib = 0; ib < n / 32; ++ib) {
      const auto d = hn::Set(df, F16ToF32(b[ib].d));
      for (int64_t i = 0; i < 32; i += N) {
        const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, b[ib].qs + i)));
        hn::StoreU(hn::Mul(q, d), df, dst + ib * 32 + i);
      }
    }
    return;
  }
  scalar::DequantizeRow(t, src, dst, n);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels {
HWY_EXPORT(MatMulT);
HWY_EXPORT(DequantizeRowT);

void MatMul(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
            float* y, int64_t ldy, int64_t r0, int64_t r1) {
  HWY_DYNAMIC_DISPATCH(MatMulT)(w, W, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
}
void DequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowT)(t, src, dst, n);
}
}  // namespace shoal::kernels
#endif  // HWY_ONCE
