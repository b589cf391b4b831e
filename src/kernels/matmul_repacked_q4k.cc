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
// Other targets (and CPUs without AVX512-VNNI, where CanRepack keeps q4_K plain): the scalar
// twin.
#include <cstring>
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

#undef SHOAL_Q4K_ZMM
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define SHOAL_Q4K_ZMM 1
#else
#define SHOAL_Q4K_ZMM 0
#endif

#if SHOAL_Q4K_ZMM
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

}  // namespace q4k
#endif  // SHOAL_Q4K_ZMM

void MatMulRepackedQ4KT(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                        int64_t ldy, int64_t r0, int64_t r1) {
#if SHOAL_Q4K_ZMM
  if (HasAvx512Vnni()) {
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
    q4k::Grid(a, n_tok, r0, r1);
    return;
  }
#endif
  internal::MatMulRepackedQ4KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels::internal {
HWY_EXPORT(MatMulRepackedQ4KT);

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
