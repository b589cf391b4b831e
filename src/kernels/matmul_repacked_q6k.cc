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
// Other targets (and CPUs without AVX512-VNNI, where CanRepack keeps q6_K plain): the scalar
// twin.
#include <cstring>
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

#undef SHOAL_Q6K_ZMM
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define SHOAL_Q6K_ZMM 1
#else
#define SHOAL_Q6K_ZMM 0
#endif

#if SHOAL_Q6K_ZMM
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

}  // namespace q6k
#endif  // SHOAL_Q6K_ZMM

void MatMulRepackedQ6KT(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                        int64_t ldy, int64_t r0, int64_t r1) {
#if SHOAL_Q6K_ZMM
  if (HasAvx512Vnni()) {
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
    q6k::Grid(a, n_tok, r0, r1);
    return;
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
