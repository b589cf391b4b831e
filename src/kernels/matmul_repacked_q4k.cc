// MatMulRepacked for q4_K weights in the x8 layout of repack_q4k.h, compiled once per Highway
// target and dispatched once per call.
//
// AVX3 targets on CPUs with AVX512-VNNI: tiles of 2 groups (16 rows, side by side in 512-bit
// registers as the q4_0 tiles do: lanes 0-7 group 0, 8-15 group 1) x up to 4 tokens. Per
// 32-byte chunk pair, the nibbles of sub-blocks 2j (low) and 2j + 1 (high) go straight into
// vpdpbusd against 4 broadcast activation bytes, one int32 sum per row and sub-block; per pair
// of sub-blocks the 16 rows' scales and mins are unpacked with a few vector ops (shared by the
// tile's tokens), the sums are scaled in float (fs) and the mins dotted with the activation's
// bsums by one vpmaddwd. Each output follows the arithmetic of repack_q4k.h exactly, so results
// are bit-identical to the scalar twin for any tile, token batch or thread split.
//
// AVX2 targets, and AVX3 targets on CPUs without AVX512-VNNI: tiles of 1-2 groups (8 rows per
// 256-bit register) x up to 2 tokens, decode 1 group x 1 token (repacked_grid_avx2-inl.h:
// balanced token tiles, the next rows prefetched into L2 during a batch, each column's lines
// ahead into L1 during decode). Per sub-block, the 8 chunks' vpmaddubsw products (nibbles 0..15
// by int8) are summed as int16, which cannot overflow, and widened once by vpmaddwd; the rest is
// the arithmetic of repack_q4k.h in 256-bit registers, so results are bit-identical to the
// scalar twin and to the AVX-512 tiles.
//
// Other targets (non-x86, or x86 without AVX2, where CanRepack keeps q4_K plain): the scalar
// twin.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/amx.h"
#include "kernels/blocks.h"
#include "kernels/int8_dot.h"
#include "kernels/repack.h"
#include "kernels/repack_q4k.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_repacked_q4k.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {

#undef SHOAL_Q4K_AVX2
#undef SHOAL_Q4K_ZMM
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define SHOAL_Q4K_AVX2 1
#else
#define SHOAL_Q4K_AVX2 0
#endif
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define SHOAL_Q4K_ZMM 1
#else
#define SHOAL_Q4K_ZMM 0
#endif

#if SHOAL_Q4K_AVX2
namespace q4k {

using internal::kQ4KColBytes;
using internal::kQ4KQsAt;

// Per token and super-block: dx, -dx, and the 4 pairs of 32-value bsums as packed int16.
struct TokSide {
  float dx, ndx;
  int32_t bp[4];
};

struct Args {
  const uint8_t* Wp;
  size_t group_bytes;
  int64_t nb;
  const BlockQ8_K* xq;  // n_tok rows of nb blocks
  const TokSide* side;  // n_tok rows of nb
  float* y;
  int64_t ldy;
};

thread_local std::vector<TokSide> g_side;

constexpr size_t kColBytes = kQ4KColBytes;
#include "kernels/repacked_grid_avx2-inl.h"  // NOLINT(build/include)

// Sub-block 2p + h of each of the NG groups' super-block columns (cols) x NT tokens: the 8
// chunks' maddubs products summed as int16 (|sum| <= 8 * 2 * 15 * 128 = 30720: no overflow, and
// maddubs cannot saturate), widened to the exact int32 dot and scaled into fs as the scalar twin
// does: fs = fma(float(dot), float(sc), fs).
template <int h, int NG, int NT>
HWY_INLINE void SubBlockY(const uint8_t* const* cols, const int8_t* const* xq, int p,
                          __m256 (&fs)[NG][NT]) {
  const __m256i m4 = _mm256_set1_epi8(0xF), ones16 = _mm256_set1_epi16(1);
  __m256i s[NG][NT];
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) {
#pragma GCC unroll 4
    for (int i = 0; i < NG; ++i) {
      const __m256i v = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(cols[i] + kQ4KQsAt + 32 * (8 * p + c)));
      const __m256i w = _mm256_and_si256(h == 0 ? v : _mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 8
      for (int j = 0; j < NT; ++j) {
        const __m256i prod = _mm256_maddubs_epi16(w, Bcast4Y(xq[j] + 64 * p + 32 * h + 4 * c));
        s[i][j] = c == 0 ? prod : _mm256_add_epi16(s[i][j], prod);
        if constexpr (NT > 1) PinY(s[i][j]);
      }
    }
  }
  const __m256i k0f = _mm256_set1_epi32(0xF), k3 = _mm256_set1_epi32(3);
  for (int i = 0; i < NG; ++i) {
    // the 6-bit scale of sub-block 2p + h: low 4 bits from ls, high 2 from hb (repack_q4k.h)
    const __m256i ls = Bytes8U(cols[i] + 32 + 8 * p), hb = Bytes8U(cols[i] + 96 + 8 * p);
    const __m256i sc =
        h == 0
            ? _mm256_or_si256(_mm256_and_si256(ls, k0f),
                              _mm256_slli_epi32(_mm256_and_si256(hb, k3), 4))
            : _mm256_or_si256(_mm256_srli_epi32(ls, 4),
                              _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hb, 2), k3), 4));
    const __m256 scf = _mm256_cvtepi32_ps(sc);
    for (int j = 0; j < NT; ++j) {
      fs[i][j] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(s[i][j], ones16)), scf, fs[i][j]);
    }
  }
}

// NG groups (rows [row, row + 8 NG), data at g) x NT tokens from t, 8 rows per 256-bit register.
// Per super-block: fs over the 8 sub-blocks in order, the mins' exact int32 sum ms by one
// vpmaddwd per pair (mins packed as int16 pairs against the pair-summed bsums), then
// acc = fma(fs, d * dx, acc); acc = fma(float(ms), dmin * -dx, acc), as repack_q4k.h defines.
template <int NG, int NT>
HWY_INLINE void TileY(const Args& a, const uint8_t* g, int64_t row, int64_t t, PfY pf) {
  __m256 acc[NG][NT];
  ZeroY(acc);
  const __m256i k0f = _mm256_set1_epi32(0xF), k30 = _mm256_set1_epi32(0x30);
  size_t pf_acc = 0;
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* cols[NG];
    const int8_t* xq[NT];
    const TokSide* sd[NT];
    ColumnY<NG, NT>(a, g, t, ib, pf, pf_acc, cols, xq, sd);
    __m256 fs[NG][NT];
    ZeroY(fs);
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
      SubBlockY<0, NG, NT>(cols, xq, p, fs);
      SubBlockY<1, NG, NT>(cols, xq, p, fs);
    }
    for (int i = 0; i < NG; ++i) {
      __m256i mins[4];  // per pair: min 2p | min 2p + 1 << 16 (repack_q4k.h)
      for (int p = 0; p < 4; ++p) {
        const __m256i lm = Bytes8U(cols[i] + 64 + 8 * p), hb = Bytes8U(cols[i] + 96 + 8 * p);
        const __m256i mn0 = _mm256_or_si256(_mm256_and_si256(lm, k0f), _mm256_and_si256(hb, k30));
        const __m256i mn1 = _mm256_or_si256(_mm256_srli_epi32(lm, 4),
                                            _mm256_and_si256(_mm256_srli_epi32(hb, 2), k30));
        mins[p] = _mm256_or_si256(mn0, _mm256_slli_epi32(mn1, 16));
      }
      const __m256 dv = Scales8(cols[i]), dmv = Scales8(cols[i] + 16);
      for (int j = 0; j < NT; ++j) {
        __m256i ms = _mm256_madd_epi16(mins[0], _mm256_set1_epi32(sd[j]->bp[0]));
        for (int p = 1; p < 4; ++p) {
          ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mins[p], _mm256_set1_epi32(sd[j]->bp[p])));
        }
        acc[i][j] =
            _mm256_fmadd_ps(fs[i][j], _mm256_mul_ps(dv, _mm256_set1_ps(sd[j]->dx)), acc[i][j]);
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms),
                                    _mm256_mul_ps(dmv, _mm256_set1_ps(sd[j]->ndx)), acc[i][j]);
      }
    }
  }
  StoreTileY<NG, NT>(a, acc, row, t);
}

#if SHOAL_Q4K_ZMM
#include "kernels/dpbusd_avx512-inl.h"         // NOLINT(build/include)
#include "kernels/repacked_grid_avx512-inl.h"  // NOLINT(build/include)

#define SHOAL_KQ_FN HWY_INLINE
#include "kernels/kquant_x8_zmm-inl.h"  // NOLINT(build/include)
#undef SHOAL_KQ_FN

// 2 groups (c0: group 0's data, c1: group 1's; equal for a lone group) x NT tokens from t.
template <int NT>
HWY_INLINE void TileZ(const Args& a, const uint8_t* g0, const uint8_t* g1, int64_t row, int64_t t,
                      bool two) {
  const BlockQ8_K* xs[NT];
  const TokSide* sd[NT];
  for (int j = 0; j < NT; ++j) {
    xs[j] = a.xq + (t + j) * a.nb;
    sd[j] = a.side + (t + j) * a.nb;
  }
  __m512 acc[NT];
  for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* c0 = g0 + ib * kQ4KColBytes;
    const uint8_t* c1 = g1 + ib * kQ4KColBytes;
    __m512 fs[NT];
    __m512i ms[NT];
    for (int j = 0; j < NT; ++j) ms[j] = _mm512_setzero_si512();
    for (int j = 0; j < NT; ++j) fs[j] = _mm512_setzero_ps();
    for (int p = 0; p < 4; ++p) {  // sub-blocks 2p (low nibbles) and 2p + 1 (high)
      __m512i dl[NT], dh[NT];
      for (int j = 0; j < NT; ++j) dl[j] = dh[j] = _mm512_setzero_si512();
      for (int c = 0; c < 8; ++c) {
        const size_t o = kQ4KQsAt + 32 * (8 * p + c);
        const __m512i v = Load2x32(c0 + o, c1 + o);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        for (int j = 0; j < NT; ++j) {
          dl[j] = DpbusdZ(dl[j], lo, Bcast4Z(xs[j][ib].qs + 64 * p + 4 * c));
          dh[j] = DpbusdZ(dh[j], hi, Bcast4Z(xs[j][ib].qs + 64 * p + 32 + 4 * c));
        }
      }
      const Q4KPair sc = Q4KScales(c0, c1, p);
      const __m512 f0 = _mm512_cvtepi32_ps(sc.sc0), f1 = _mm512_cvtepi32_ps(sc.sc1);
      const __m512i mp = sc.mins;
      for (int j = 0; j < NT; ++j) {
        fs[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dl[j]), f0, fs[j]);
        fs[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dh[j]), f1, fs[j]);
        const __m512i mt = _mm512_madd_epi16(mp, _mm512_set1_epi32(sd[j][ib].bp[p]));
        ms[j] = _mm512_add_epi32(ms[j], mt);
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(c1)), 1));
    const __m512 dmv = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c0 + 16))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(c1 + 16)), 1));
    for (int j = 0; j < NT; ++j) {
      acc[j] = _mm512_fmadd_ps(fs[j], _mm512_mul_ps(dv, _mm512_set1_ps(sd[j][ib].dx)), acc[j]);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ms[j]),
                               _mm512_mul_ps(dmv, _mm512_set1_ps(sd[j][ib].ndx)), acc[j]);
    }
  }
  StoreTileZ<NT>(a, acc, row, t, two);
}
#endif  // SHOAL_Q4K_ZMM

}  // namespace q4k
#endif  // SHOAL_Q4K_AVX2

#if SHOAL_Q4K_AVX2
// AVX2 tile shapes (groups x tokens), measured on Zen 3 (5632 x 2048, thread CPU time, medians of
// 3-5 on a loaded machine): decode 1 x 1 (72 GFLOP/s; 2 x 1 42, 4 x 1 35); batches 2 x 2 (64
// tokens: 125; 1 x 3 104, 2 x 3 102, 1 x 4 82).
constexpr int kQ4KBatchGroups = 2, kQ4KBatchTokens = 2;
#endif

// Whether this target has SIMD x8 tiles for q4_K / q6_K (CanRepack's rule).
bool KQuantX8TilesT() { return SHOAL_Q4K_AVX2 != 0; }

void MatMulRepackedQ4KT(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                        int64_t ldy, int64_t r0, int64_t r1) {
#if SHOAL_Q4K_AVX2
  {
    const int64_t nb = k / 256;
    const BlockQ8_K* xs = static_cast<const BlockQ8_K*>(xq);
    std::vector<q4k::TokSide>& side = q4k::g_side;
    side.resize(n_tok * nb);
    for (int64_t i = 0; i < n_tok * nb; ++i) {
      const BlockQ8_K& x = xs[i];
      side[i].dx = x.d;
      side[i].ndx = -x.d;
      for (int p = 0; p < 4; ++p) {
        const int s0 = x.bsums[4 * p] + x.bsums[4 * p + 1];
        const int s1 = x.bsums[4 * p + 2] + x.bsums[4 * p + 3];
        side[i].bp[p] = static_cast<int32_t>((static_cast<uint32_t>(s0) & 0xFFFF) |
                                             (static_cast<uint32_t>(s1) << 16));
      }
    }
    const q4k::Args a{static_cast<const uint8_t*>(Wp),
                      static_cast<size_t>(nb) * q4k::kQ4KColBytes,
                      nb,
                      xs,
                      side.data(),
                      y,
                      ldy};
#if SHOAL_Q4K_ZMM
    if (HasAvx512Vnni()) return q4k::Grid(a, n_tok, r0, r1);
#endif
    if (n_tok == 1) return q4k::GridY<1, 1>(a, n_tok, r0, r1);
    return q4k::GridY<kQ4KBatchGroups, kQ4KBatchTokens>(a, n_tok, r0, r1);
  }
#endif
  internal::MatMulRepackedQ4KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels::internal {
HWY_EXPORT(MatMulRepackedQ4KT);
HWY_EXPORT(KQuantX8TilesT);

bool KQuantX8Tiles() { return HWY_DYNAMIC_DISPATCH(KQuantX8TilesT)(); }

void MatMulRepackedQ4K(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                       int64_t ldy, int64_t r0, int64_t r1) {
  if (r0 >= r1 || n_tok <= 0) return;
  // AMX tiles (amx.h) where the CPU and OS have them: bit-identical to the tiles here, which
  // finish the rows they leave (at most one group).
  if (n_tok >= kAmxMinTokens && AmxEnabled()) {
    r0 = MatMulRepackedQ4KAmx(Wp, k, xq, n_tok, y, ldy, r0, r1);
    if (r0 >= r1) return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulRepackedQ4KT)(Wp, k, xq, n_tok, y, ldy, r0, r1);
}
}  // namespace shoal::kernels::internal
#endif  // HWY_ONCE
