// AMX int8 tiles for the x8 q4_K batch matmul (amx.h; layout and arithmetic: repack_q4k.h).
//
// A panel is 16 weight rows (two x8 groups). Per super-block, its 8 sub-blocks are unpacked once
// per pass into B tiles of unsigned nibbles (sub-block 2p: the low nibbles of chunks 8p .. 8p + 7,
// 2p + 1: their high nibbles), beside the 16 rows' sub-block scales as floats, their mins as
// int16 pairs and d, dmin as floats. Every tile of 16 tokens then runs over the sub-blocks: one
// TDPBSUD (signed activations x unsigned nibbles) gives the sub-block's exact integer dots, and
// AVX-512 finishes them as the AVX-512 tiles (matmul_repacked_q4k.cc) do, in the same order:
// fs = fma(float(dot_s), float(sc_s), fs) for s = 0..7, then per super-block
// acc = fma(fs, d * dx, acc) and acc = fma(float(sum_s m_s * bsums_s), dmin * -dx, acc). So every
// output is bit-identical to theirs and to the scalar twin's.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/amx.h"
#include "kernels/amx_internal.h"
#include "kernels/blocks.h"
#include "kernels/repack.h"
#include "kernels/repack_q4k.h"

namespace shoal::kernels {

#if SHOAL_HAVE_AMX
namespace {
using namespace amx;  // NOLINT(build/namespaces)
using internal::kQ4KColBytes;
using internal::kQ4KQsAt;

constexpr size_t kSuperB = 8 * kBTileBytes;    // B tiles of one super-block of the panel
constexpr size_t kSuperA = 8 * kTileTok * 32;  // A tiles of one super-block of a token tile

// Per super-block of the panel: what the tiles' results are finished with.
struct alignas(64) PanelConsts {
  float sc[8][16];    // sub-block scales, as floats
  int32_t mp[4][16];  // mins of sub-blocks 2p (low int16) and 2p + 1 (high)
  float d[16], dmin[16];
};

// Per super-block of a token tile: the activations' scale, its negation and their bsums per
// sub-block pair (2p low int16, 2p + 1 high), 16 tokens each.
struct alignas(64) TokConsts {
  float dx[16], ndx[16];
  int32_t bp[4][16];
};

struct Scratch {
  std::vector<uint8_t> panel, consts, xa, tok;  // aligned inside
};

thread_local Scratch g_scratch;

#define SHOAL_KQ_FN SHOAL_AMX_TARGET inline
#include "kernels/kquant_x8_zmm-inl.h"  // NOLINT(build/include)
#undef SHOAL_KQ_FN

SHOAL_AMX_TARGET void PackPanel(const uint8_t* g0, const uint8_t* g1, int64_t nb, uint8_t* panel,
                                PanelConsts* consts) {
  const __m512i m4 = _mm512_set1_epi8(0xF);
  for (int64_t ib = 0; ib < nb; ++ib) {
    const uint8_t* c0 = g0 + ib * kQ4KColBytes;
    const uint8_t* c1 = g1 + ib * kQ4KColBytes;
    uint8_t* out = panel + ib * kSuperB;
    PanelConsts& k = consts[ib];
    for (int p = 0; p < 4; ++p) {
      for (int c = 0; c < 8; ++c) {
        const size_t o = kQ4KQsAt + 32 * (8 * p + c);
        const __m512i v = Load2x32(c0 + o, c1 + o);
        _mm512_store_si512(out + (2 * p) * kBTileBytes + 64 * c, _mm512_and_si512(v, m4));
        _mm512_store_si512(out + (2 * p + 1) * kBTileBytes + 64 * c,
                           _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
      }
      const Q4KPair sc = Q4KScales(c0, c1, p);
      _mm512_store_ps(k.sc[2 * p], _mm512_cvtepi32_ps(sc.sc0));
      _mm512_store_ps(k.sc[2 * p + 1], _mm512_cvtepi32_ps(sc.sc1));
      _mm512_store_si512(k.mp[p], sc.mins);
    }
    _mm512_store_ps(k.d, Halves16(c0, c1));
    _mm512_store_ps(k.dmin, Halves16(c0 + 16, c1 + 16));
  }
}

// The super-block's end: acc[m] += its fs and mins terms (acc in memory), fs reset.
SHOAL_AMX_TARGET __attribute__((always_inline)) inline void SuperBlock(const PanelConsts& k,
                                                                       const TokConsts& x,
                                                                       __m512 fs[kTileTok],
                                                                       float* acc) {
  const __m512 d = _mm512_load_ps(k.d), dmin = _mm512_load_ps(k.dmin);
  const __m512i mp0 = _mm512_load_si512(k.mp[0]), mp1 = _mm512_load_si512(k.mp[1]),
                mp2 = _mm512_load_si512(k.mp[2]), mp3 = _mm512_load_si512(k.mp[3]);
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) {
    __m512i ms = _mm512_madd_epi16(mp0, _mm512_set1_epi32(x.bp[0][m]));
    ms = _mm512_add_epi32(ms, _mm512_madd_epi16(mp1, _mm512_set1_epi32(x.bp[1][m])));
    ms = _mm512_add_epi32(ms, _mm512_madd_epi16(mp2, _mm512_set1_epi32(x.bp[2][m])));
    ms = _mm512_add_epi32(ms, _mm512_madd_epi16(mp3, _mm512_set1_epi32(x.bp[3][m])));
    __m512 a = _mm512_load_ps(acc + 16 * m);
    a = _mm512_fmadd_ps(fs[m], _mm512_mul_ps(d, _mm512_set1_ps(x.dx[m])), a);
    a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmin, _mm512_set1_ps(x.ndx[m])), a);
    _mm512_store_ps(acc + 16 * m, a);
    fs[m] = _mm512_setzero_ps();
  }
}

// 16 tokens (A tiles at a, their constants at x) x one panel: y rows [row, row + 16) of the
// first n_out tokens; pf_bytes from pf prefetched into L2 meanwhile.
SHOAL_AMX_TARGET void TokenTile(const uint8_t* a, const TokConsts* x, const uint8_t* panel,
                                const PanelConsts* k, int64_t nb, float* y, int64_t ldy, int n_out,
                                const uint8_t* pf, size_t pf_bytes) {
  alignas(64) int32_t c[2][kTileTok * 16];
  alignas(64) float acc[kTileTok * 16] = {};
  __m512 fs[kTileTok];
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) fs[m] = _mm512_setzero_ps();
  constexpr size_t kA = kTileTok * 32;
  const int64_t nq = 8 * nb;  // sub-blocks, q = 8 ib + s
  SpreadPrefetch prefetch{pf, pf_bytes / 64, static_cast<size_t>(nq)};
  Product<0, false>(a, 32, panel);
  for (int64_t q = 0; q < nq; q += 2) {
    prefetch.Upto(static_cast<size_t>(q + 2));
    const int64_t ib = q / 8, s = q % 8;
    Product<1, false>(a + (q + 1) * kA, 32, panel + (q + 1) * kBTileBytes);
    StoreC<0>(c[0]);
    ScaledSums(c[0], k[ib].sc[s], fs);
    if (q + 2 < nq) Product<0, false>(a + (q + 2) * kA, 32, panel + (q + 2) * kBTileBytes);
    StoreC<1>(c[1]);
    ScaledSums(c[1], k[ib].sc[s + 1], fs);
    if (s == 6) SuperBlock(k[ib], x[ib], fs, acc);
  }
  for (int m = 0; m < n_out; ++m) {
    _mm512_storeu_ps(y + m * ldy, _mm512_load_ps(acc + 16 * m));
  }
}

SHOAL_AMX_TARGET int64_t Run(const uint8_t* Wp, int64_t k, const BlockQ8_K* xq, int64_t n_tok,
                             float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / 256;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KColBytes;
  const int64_t n_tiles = TokenTiles(n_tok);
  Scratch& sc = g_scratch;
  // The activations in the A-tile layout ([tile][super-block][sub-block][16 tokens][32]) and
  // their constants; zero padding.
  uint8_t* xa = Aligned(sc.xa, n_tiles * nb * kSuperA);
  auto* tok = reinterpret_cast<TokConsts*>(Aligned(sc.tok, n_tiles * nb * sizeof(TokConsts)));
  if (n_tok % kTileTok != 0) {
    std::memset(xa + (n_tiles - 1) * nb * kSuperA, 0, nb * kSuperA);
    std::memset(static_cast<void*>(tok + (n_tiles - 1) * nb), 0, nb * sizeof(TokConsts));
  }
  // Written in order (tile, super-block, token): the stores run contiguously, the loads stride.
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTileTok) {
    const int64_t tile = t0 / kTileTok, lanes = std::min<int64_t>(kTileTok, n_tok - t0);
    for (int64_t ib = 0; ib < nb; ++ib) {
      for (int64_t lane = 0; lane < lanes; ++lane) {
        const BlockQ8_K& b = xq[(t0 + lane) * nb + ib];
        uint8_t* out = xa + (tile * nb + ib) * kSuperA + 32 * lane;
        for (int s = 0; s < 8; ++s) {
          _mm256_store_si256(reinterpret_cast<__m256i*>(out + s * kTileTok * 32),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * s)));
        }
        TokConsts& x = tok[tile * nb + ib];
        x.dx[lane] = b.d;
        x.ndx[lane] = -b.d;
        for (int p = 0; p < 4; ++p) {
          const int s0 = b.bsums[4 * p] + b.bsums[4 * p + 1];
          const int s1 = b.bsums[4 * p + 2] + b.bsums[4 * p + 3];
          x.bp[p][lane] = static_cast<int32_t>((static_cast<uint32_t>(s0) & 0xFFFF) |
                                               (static_cast<uint32_t>(s1) << 16));
        }
      }
    }
  }
  uint8_t* panel = Aligned(sc.panel, nb * kSuperB);
  auto* consts = reinterpret_cast<PanelConsts*>(Aligned(sc.consts, nb * sizeof(PanelConsts)));
  static const TileConfig cfg = MakeConfig();
  return RunPanels(
      cfg, Wp, group_bytes, n_tok, nb * kSuperA, r0, r1,
      [&](const uint8_t* g0) { PackPanel(g0, g0 + group_bytes, nb, panel, consts); },
      [&](int64_t t, int64_t r, int n_out, const uint8_t* pf, size_t pf_bytes) {
        const int64_t tile = t / kTileTok;
        TokenTile(xa + tile * nb * kSuperA, tok + tile * nb, panel, consts, nb, y + t * ldy + r,
                  ldy, n_out, pf, pf_bytes);
      });
}

}  // namespace

namespace internal {
int64_t MatMulRepackedQ4KAmx(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1) {
  return Run(static_cast<const uint8_t*>(Wp), k, static_cast<const BlockQ8_K*>(xq), n_tok, y, ldy,
             r0, r1);
}
}  // namespace internal

#endif  // SHOAL_HAVE_AMX (elsewhere amx.cc defines the entry point)

}  // namespace shoal::kernels
