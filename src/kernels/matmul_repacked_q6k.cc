// MatMulRepacked for q6_K weights in the x8 layout of repack_q6k.h, compiled once per Highway
// target and dispatched once per call.
//
// AVX3 targets on CPUs with AVX512-VNNI: tiles of 2 groups (16 rows in 512-bit registers, as the
// q4_0 and q4_K tiles) x up to 4 tokens. Per chunk, the 6-bit quants of sub-blocks 2P and 2P + 1
// are rebuilt from the nibble chunk and the pair's two high-bit chunks (a shift, a mask and one
// vpternlogd each; shared by the tile's tokens) and go into vpdpbusd against 4 broadcast
// activation bytes, each sub-block's int32 sum starting at -32 * bsum; per sub-block the sum is
// scaled by the 16 rows' int8 scales in float. Each output follows the arithmetic of
// repack_q6k.h exactly: bit-identical to the scalar twin for any tile, batch or thread split.
//
// AVX2 targets, and AVX3 targets on CPUs without AVX512-VNNI: tiles of 1 group (8 rows per
// 256-bit register) x up to 3 tokens, decode 1 x 1 (repacked_grid_avx2-inl.h). The 6-bit quants
// are rebuilt as above with shifts, masks and an or; per sub-block, the vpmaddubsw products of
// two chunks (quants 0..63 by int8) are summed as int16, which cannot overflow, widened by
// vpmaddwd and added to the int32 sum that starts at -32 * bsum; the rest is the arithmetic of
// repack_q6k.h, so results are bit-identical to the scalar twin and to the AVX-512 tiles.
//
// Other targets (non-x86, or x86 without AVX2, where CanRepack keeps q6_K plain): the scalar
// twin.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/amx.h"
#include "kernels/blocks.h"
#include "kernels/int8_dot.h"
#include "kernels/repack.h"
#include "kernels/repack_q6k.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_repacked_q6k.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {

#undef SHOAL_Q6K_AVX2
#undef SHOAL_Q6K_ZMM
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define SHOAL_Q6K_AVX2 1
#else
#define SHOAL_Q6K_AVX2 0
#endif
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define SHOAL_Q6K_ZMM 1
#else
#define SHOAL_Q6K_ZMM 0
#endif

#if SHOAL_Q6K_AVX2
namespace q6k {

using internal::kQ6KColBytes;
using internal::kQ6KHiAt;
using internal::kQ6KLoAt;
using internal::kQ6KScAt;

// Per token and super-block: dx and the 16 sub-blocks' -32 * bsum.
struct TokSide {
  float dx;
  int32_t corr[16];
};

struct Args {
  const uint8_t* Wp;
  size_t group_bytes;
  int64_t nb;
  const BlockQ8_K* xq;
  const TokSide* side;
  float* y;
  int64_t ldy;
};

thread_local std::vector<TokSide> g_side;

constexpr size_t kColBytes = kQ6KColBytes;
#include "kernels/repacked_grid_avx2-inl.h"  // NOLINT(build/include)

// The top 2 bits at bits 2c, 2c + 1 of each byte of h, moved to bits 4-5 (16-bit shifts: what
// crosses into a neighbouring byte lands outside bits 4-5 and is masked off).
template <int kC>
HWY_INLINE __m256i High2Y(__m256i h, __m256i k30) {
  if constexpr (kC < 2) {
    return _mm256_and_si256(_mm256_slli_epi16(h, 4 - 2 * kC), k30);
  } else if constexpr (kC == 2) {
    return _mm256_and_si256(h, k30);
  } else {
    return _mm256_and_si256(_mm256_srli_epi16(h, 2), k30);
  }
}

// Chunks kC and kC + 1 of sub-block 2P + h (each: 4 six-bit quants 0..63 of each row) x NT
// tokens, added into the int32 sums d: the two chunks' maddubs products summed as int16
// (|sum| <= 2 * 2 * 63 * 128 = 32256: no overflow, and maddubs cannot saturate), then widened.
template <int h, int kC, int NG, int NT>
HWY_INLINE void ChunkPairY(const uint8_t* const* cols, const int8_t* const* xq, int P,
                           const __m256i* hb, __m256i (&d)[NG][NT]) {
  const __m256i k0f = _mm256_set1_epi8(0x0F), k30 = _mm256_set1_epi8(0x30),
                ones16 = _mm256_set1_epi16(1);
  __m256i s[NG][NT];
  for (int i = 0; i < NG; ++i) {
    const uint8_t* lo = cols[i] + kQ6KLoAt + 32 * (4 * P + kC);
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + 32));
    const __m256i w0 = _mm256_or_si256(
        _mm256_and_si256(h == 0 ? v0 : _mm256_srli_epi16(v0, 4), k0f), High2Y<kC>(hb[i], k30));
    const __m256i w1 = _mm256_or_si256(
        _mm256_and_si256(h == 0 ? v1 : _mm256_srli_epi16(v1, 4), k0f), High2Y<kC + 1>(hb[i], k30));
    for (int j = 0; j < NT; ++j) {
      const int8_t* x = xq[j] + 32 * P + 16 * h + 4 * kC;
      s[i][j] = _mm256_add_epi16(_mm256_maddubs_epi16(w0, Bcast4Y(x)),
                                 _mm256_maddubs_epi16(w1, Bcast4Y(x + 4)));
      d[i][j] = _mm256_add_epi32(d[i][j], _mm256_madd_epi16(s[i][j], ones16));
    }
  }
}

// NG groups (rows [row, row + 8 NG), data at g) x NT tokens from t, 8 rows per 256-bit register.
// Per sub-block g: dot_g starts at -32 bsums[g] and takes the exact int32 dot of the 6-bit quants;
// fs = fma(float(dot_g), float(sc_g), fs) in sub-block order; acc = fma(fs, d * dx, acc) per
// super-block, as repack_q6k.h defines.
template <int NG, int NT>
HWY_INLINE void TileY(const Args& a, const uint8_t* g, int64_t row, int64_t t, PfY pf) {
  __m256 acc[NG][NT];
  ZeroY(acc);
  size_t pf_acc = 0;
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* cols[NG];
    const int8_t* xq[NT];
    const TokSide* sd[NT];
    ColumnY<NG, NT>(a, g, t, ib, pf, pf_acc, cols, xq, sd);
    __m256 fs[NG][NT];
    ZeroY(fs);
#pragma GCC unroll 8
    for (int P = 0; P < 8; ++P) {
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {  // sub-block 2P + h: low (h = 0) or high nibbles
        __m256i hb[NG], d[NG][NT];
        for (int i = 0; i < NG; ++i) {
          hb[i] = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(cols[i] + kQ6KHiAt + 64 * P + 32 * h));
          for (int j = 0; j < NT; ++j) d[i][j] = _mm256_set1_epi32(sd[j]->corr[2 * P + h]);
        }
        if (h == 0) {
          ChunkPairY<0, 0, NG, NT>(cols, xq, P, hb, d);
          ChunkPairY<0, 2, NG, NT>(cols, xq, P, hb, d);
        } else {
          ChunkPairY<1, 0, NG, NT>(cols, xq, P, hb, d);
          ChunkPairY<1, 2, NG, NT>(cols, xq, P, hb, d);
        }
        for (int i = 0; i < NG; ++i) {
          const __m256 scf = _mm256_cvtepi32_ps(Bytes8S(cols[i] + kQ6KScAt + 8 * (2 * P + h)));
          for (int j = 0; j < NT; ++j) {
            fs[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i][j]), scf, fs[i][j]);
          }
        }
      }
    }
    for (int i = 0; i < NG; ++i) {
      const __m256 dv = Scales8(cols[i]);
      for (int j = 0; j < NT; ++j) {
        acc[i][j] =
            _mm256_fmadd_ps(fs[i][j], _mm256_mul_ps(dv, _mm256_set1_ps(sd[j]->dx)), acc[i][j]);
      }
    }
  }
  StoreTileY<NG, NT>(a, acc, row, t);
}

#if SHOAL_Q6K_ZMM
#include "kernels/dpbusd_avx512-inl.h"         // NOLINT(build/include)
#include "kernels/repacked_grid_avx512-inl.h"  // NOLINT(build/include)

#define SHOAL_KQ_FN HWY_INLINE
#include "kernels/kquant_x8_zmm-inl.h"  // NOLINT(build/include)
#undef SHOAL_KQ_FN

template <int kC, int NT>
HWY_INLINE void Chunk(const uint8_t* c0, const uint8_t* c1, int p, const int8_t* const* xq,
                      __m512i h0, __m512i h1, __m512i dl[NT], __m512i dh[NT]) {
  const __m512i k0f = _mm512_set1_epi8(0x0F), k30 = _mm512_set1_epi8(0x30);
  const size_t o = kQ6KLoAt + 32 * (4 * p + kC);
  const __m512i v = Load2x32(c0 + o, c1 + o);
  // (a & k0f) | b for b with bits outside 4-5 clear: ternary-logic table 0xEC = (A & C) | B
  // with A = v or v >> 4, B = the high bits, C = k0f.
  const __m512i lo = _mm512_ternarylogic_epi32(v, High2<kC>(h0, k30), k0f, 0xEC);
  const __m512i hi =
      _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), High2<kC>(h1, k30), k0f, 0xEC);
  for (int j = 0; j < NT; ++j) {
    dl[j] = DpbusdZ(dl[j], lo, Bcast4Z(xq[j] + 32 * p + 4 * kC));
    dh[j] = DpbusdZ(dh[j], hi, Bcast4Z(xq[j] + 32 * p + 16 + 4 * kC));
  }
}

template <int NT>
HWY_INLINE void TileZ(const Args& a, const uint8_t* g0, const uint8_t* g1, int64_t row, int64_t t,
                      bool two) {
  __m512 acc[NT];
  for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* c0 = g0 + ib * kQ6KColBytes;
    const uint8_t* c1 = g1 + ib * kQ6KColBytes;
    const int8_t* xq[NT];
    const TokSide* sd[NT];
    for (int j = 0; j < NT; ++j) {
      xq[j] = a.xq[(t + j) * a.nb + ib].qs;
      sd[j] = a.side + (t + j) * a.nb + ib;
    }
    __m512 fs[NT];
    for (int j = 0; j < NT; ++j) fs[j] = _mm512_setzero_ps();
    for (int p = 0; p < 8; ++p) {  // sub-blocks 2P (low nibbles) and 2P + 1 (high)
      __m512i dl[NT], dh[NT];
      for (int j = 0; j < NT; ++j) {
        dl[j] = _mm512_set1_epi32(sd[j]->corr[2 * p]);
        dh[j] = _mm512_set1_epi32(sd[j]->corr[2 * p + 1]);
      }
      const size_t ho = kQ6KHiAt + 64 * p;
      const __m512i h0 = Load2x32(c0 + ho, c1 + ho), h1 = Load2x32(c0 + ho + 32, c1 + ho + 32);
      Chunk<0, NT>(c0, c1, p, xq, h0, h1, dl, dh);
      Chunk<1, NT>(c0, c1, p, xq, h0, h1, dl, dh);
      Chunk<2, NT>(c0, c1, p, xq, h0, h1, dl, dh);
      Chunk<3, NT>(c0, c1, p, xq, h0, h1, dl, dh);
      const __m512 f0 = Q6KScales(c0 + kQ6KScAt, c1 + kQ6KScAt, 2 * p),
                   f1 = Q6KScales(c0 + kQ6KScAt, c1 + kQ6KScAt, 2 * p + 1);
      for (int j = 0; j < NT; ++j) {
        fs[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dl[j]), f0, fs[j]);
        fs[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dh[j]), f1, fs[j]);
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(c1)), 1));
    for (int j = 0; j < NT; ++j) {
      acc[j] = _mm512_fmadd_ps(fs[j], _mm512_mul_ps(dv, _mm512_set1_ps(sd[j]->dx)), acc[j]);
    }
  }
  StoreTileZ<NT>(a, acc, row, t, two);
}
#endif  // SHOAL_Q6K_ZMM

}  // namespace q6k
#endif  // SHOAL_Q6K_AVX2

#if SHOAL_Q6K_AVX2
// AVX2 tile shapes (groups x tokens), measured on Zen 3 (5632 x 2048, thread CPU time, medians of
// 3-5 on a loaded machine): decode 1 x 1 (44 GFLOP/s; 2 x 1 30, 4 x 1 21); batches 1 x 3 (64
// tokens: 87-93, 2 x 2 85; 16 tokens: 104, 2 x 2 65).
constexpr int kQ6KBatchGroups = 1, kQ6KBatchTokens = 3;
#endif

void MatMulRepackedQ6KT(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                        int64_t ldy, int64_t r0, int64_t r1) {
#if SHOAL_Q6K_AVX2
  {
    const int64_t nb = k / 256;
    const BlockQ8_K* xs = static_cast<const BlockQ8_K*>(xq);
    std::vector<q6k::TokSide>& side = q6k::g_side;
    side.resize(n_tok * nb);
    for (int64_t i = 0; i < n_tok * nb; ++i) {
      side[i].dx = xs[i].d;
      for (int g = 0; g < 16; ++g) side[i].corr[g] = -32 * xs[i].bsums[g];
    }
    const q6k::Args a{static_cast<const uint8_t*>(Wp),
                      static_cast<size_t>(nb) * q6k::kQ6KColBytes,
                      nb,
                      xs,
                      side.data(),
                      y,
                      ldy};
#if SHOAL_Q6K_ZMM
    if (HasAvx512Vnni()) return q6k::Grid(a, n_tok, r0, r1);
#endif
    if (n_tok == 1) return q6k::GridY<1, 1>(a, n_tok, r0, r1);
    return q6k::GridY<kQ6KBatchGroups, kQ6KBatchTokens>(a, n_tok, r0, r1);
  }
#endif
  internal::MatMulRepackedQ6KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels::internal {
HWY_EXPORT(MatMulRepackedQ6KT);

void MatMulRepackedQ6K(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                       int64_t ldy, int64_t r0, int64_t r1) {
  if (r0 >= r1 || n_tok <= 0) return;
  // AMX tiles (amx.h) where the CPU and OS have them: bit-identical to the tiles here, which
  // finish the rows they leave (at most one group).
  if (n_tok >= kAmxMinTokens && AmxEnabled()) {
    r0 = MatMulRepackedQ6KAmx(Wp, k, xq, n_tok, y, ldy, r0, r1);
    if (r0 >= r1) return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulRepackedQ6KT)(Wp, k, xq, n_tok, y, ldy, r0, r1);
}
}  // namespace shoal::kernels::internal
#endif  // HWY_ONCE
