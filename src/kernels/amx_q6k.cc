// AMX int8 tiles for the x8 q6_K batch matmul (amx.h; layout and arithmetic: repack_q6k.h).
//
// A panel is 16 weight rows (two x8 groups). Per super-block, its 16 sub-blocks of 16 values are
// unpacked once per pass into B tiles of signed bytes q - 32 (the 4 low bits from the lo chunks,
// the top 2 from the hi bytes), beside the 16 rows' sub-block scales as floats and d. Every tile
// of 16 tokens then runs over the sub-blocks: one TDPBSSD (16 values) gives dot_g = the integer
// dot of (q - 32) and the activations, which is -32 bsums[g] + q . x exactly, as the AVX-512
// tiles (matmul_repacked_q6k.cc) start their sums; AVX-512 finishes in their order:
// fs = fma(float(dot_g), float(sc_g), fs) for g = 0..15, then acc = fma(fs, d * dx, acc) per
// super-block. So every output is bit-identical to theirs and to the scalar twin's.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/amx.h"
#include "kernels/amx_internal.h"
#include "kernels/blocks.h"
#include "kernels/repack.h"
#include "kernels/repack_q6k.h"

namespace shoal::kernels {

#if SHOAL_HAVE_AMX
namespace {
using namespace amx;  // NOLINT(build/namespaces)
using internal::kQ6KColBytes;
using internal::kQ6KHiAt;
using internal::kQ6KLoAt;
using internal::kQ6KScAt;

constexpr size_t kBTile = 4 * 64;         // one sub-block's B tile: 16 values x 16 rows
constexpr size_t kATile = kTileTok * 16;  // one sub-block's A tile: 16 tokens x 16
constexpr size_t kSuperB = 16 * kBTile;   // a super-block of the panel
constexpr size_t kSuperA = 16 * kATile;   // a super-block of a token tile

struct alignas(64) PanelConsts {
  float sc[16][16];  // sub-block scales of the 16 rows, as floats
  float d[16];
};

struct Scratch {
  std::vector<uint8_t> panel, consts, xa, dx;  // aligned inside
};

thread_local Scratch g_scratch;

#define SHOAL_KQ_FN SHOAL_AMX_TARGET inline
#include "kernels/kquant_x8_zmm-inl.h"  // NOLINT(build/include)
#undef SHOAL_KQ_FN

// Chunk kC of pair p: B-tile row kC of sub-blocks 2p (low nibbles, top bits from h0) and 2p + 1
// (high nibbles, h1), as q - 32.
template <int kC>
SHOAL_AMX_TARGET inline void PackChunk(const uint8_t* c0, const uint8_t* c1, int p, __m512i h0,
                                       __m512i h1, uint8_t* out) {
  const __m512i k0f = _mm512_set1_epi8(0x0F), k30 = _mm512_set1_epi8(0x30),
                k32 = _mm512_set1_epi8(32);
  const size_t o = kQ6KLoAt + 32 * (4 * p + kC);
  const __m512i v = Load2x32(c0 + o, c1 + o);
  const __m512i lo = _mm512_or_si512(_mm512_and_si512(v, k0f), High2<kC>(h0, k30));
  const __m512i hi =
      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), k0f), High2<kC>(h1, k30));
  _mm512_store_si512(out + (2 * p) * kBTile + 64 * kC, _mm512_sub_epi8(lo, k32));
  _mm512_store_si512(out + (2 * p + 1) * kBTile + 64 * kC, _mm512_sub_epi8(hi, k32));
}

SHOAL_AMX_TARGET void PackPanel(const uint8_t* g0, const uint8_t* g1, int64_t nb, uint8_t* panel,
                                PanelConsts* consts) {
  for (int64_t ib = 0; ib < nb; ++ib) {
    const uint8_t* c0 = g0 + ib * kQ6KColBytes;
    const uint8_t* c1 = g1 + ib * kQ6KColBytes;
    uint8_t* out = panel + ib * kSuperB;
    for (int p = 0; p < 8; ++p) {
      const size_t ho = kQ6KHiAt + 64 * p;
      const __m512i h0 = Load2x32(c0 + ho, c1 + ho), h1 = Load2x32(c0 + ho + 32, c1 + ho + 32);
      PackChunk<0>(c0, c1, p, h0, h1, out);
      PackChunk<1>(c0, c1, p, h0, h1, out);
      PackChunk<2>(c0, c1, p, h0, h1, out);
      PackChunk<3>(c0, c1, p, h0, h1, out);
    }
    PanelConsts& k = consts[ib];
    for (int g = 0; g < 16; ++g)
      _mm512_store_ps(k.sc[g], Q6KScales(c0 + kQ6KScAt, c1 + kQ6KScAt, g));
    _mm512_store_ps(k.d, Halves16(c0, c1));
  }
}

// The super-block's end: acc[m] = fma(fs[m], d * dx[m], acc[m]) (acc in memory), fs reset.
SHOAL_AMX_TARGET __attribute__((always_inline)) inline void SuperBlock(const float* d,
                                                                       const float* dx,
                                                                       __m512 fs[kTileTok],
                                                                       float* acc) {
  const __m512 dv = _mm512_load_ps(d);
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) {
    _mm512_store_ps(acc + 16 * m, _mm512_fmadd_ps(fs[m], _mm512_mul_ps(dv, _mm512_set1_ps(dx[m])),
                                                  _mm512_load_ps(acc + 16 * m)));
    fs[m] = _mm512_setzero_ps();
  }
}

// 16 tokens (A tiles at a, scales at dx: [super-block][16]) x one panel: y rows [row, row + 16)
// of the first n_out tokens; pf_bytes from pf prefetched into L2 meanwhile.
SHOAL_AMX_TARGET void TokenTile(const uint8_t* a, const float* dx, const uint8_t* panel,
                                const PanelConsts* k, int64_t nb, float* y, int64_t ldy, int n_out,
                                const uint8_t* pf, size_t pf_bytes) {
  alignas(64) int32_t c[2][kTileTok * 16];
  alignas(64) float acc[kTileTok * 16] = {};
  __m512 fs[kTileTok];
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) fs[m] = _mm512_setzero_ps();
  const int64_t nq = 16 * nb;  // sub-blocks, q = 16 ib + g
  SpreadPrefetch prefetch{pf, pf_bytes / 64, static_cast<size_t>(nq)};
  Product<0>(a, 16, panel);
  for (int64_t q = 0; q < nq; q += 2) {
    prefetch.Upto(static_cast<size_t>(q + 2));
    const int64_t ib = q / 16, g = q % 16;
    Product<1>(a + (q + 1) * kATile, 16, panel + (q + 1) * kBTile);
    StoreC<0>(c[0]);
    ScaledSums(c[0], k[ib].sc[g], fs);
    if (q + 2 < nq) Product<0>(a + (q + 2) * kATile, 16, panel + (q + 2) * kBTile);
    StoreC<1>(c[1]);
    ScaledSums(c[1], k[ib].sc[g + 1], fs);
    if (g == 14) SuperBlock(k[ib].d, dx + kTileTok * ib, fs, acc);
  }
  for (int m = 0; m < n_out; ++m) {
    _mm512_storeu_ps(y + m * ldy, _mm512_load_ps(acc + 16 * m));
  }
}

SHOAL_AMX_TARGET int64_t Run(const uint8_t* Wp, int64_t k, const BlockQ8_K* xq, int64_t n_tok,
                             float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / 256;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ6KColBytes;
  const int64_t n_tiles = TokenTiles(n_tok);
  Scratch& sc = g_scratch;
  // The activations in the A-tile layout ([tile][super-block][sub-block][16 tokens][16]) and
  // their scales ([tile][super-block][16]); zero padding.
  uint8_t* xa = Aligned(sc.xa, n_tiles * nb * kSuperA);
  auto* dx = reinterpret_cast<float*>(Aligned(sc.dx, n_tiles * nb * kTileTok * sizeof(float)));
  if (n_tok % kTileTok != 0) {
    std::memset(xa + (n_tiles - 1) * nb * kSuperA, 0, nb * kSuperA);
    std::memset(dx + (n_tiles - 1) * nb * kTileTok, 0, nb * kTileTok * sizeof(float));
  }
  // Written in order (tile, super-block, token): the stores run contiguously, the loads stride.
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTileTok) {
    const int64_t tile = t0 / kTileTok, lanes = std::min<int64_t>(kTileTok, n_tok - t0);
    for (int64_t ib = 0; ib < nb; ++ib) {
      for (int64_t lane = 0; lane < lanes; ++lane) {
        const BlockQ8_K& b = xq[(t0 + lane) * nb + ib];
        uint8_t* out = xa + (tile * nb + ib) * kSuperA + 16 * lane;
        for (int g = 0; g < 16; ++g) {
          _mm_store_si128(reinterpret_cast<__m128i*>(out + g * kATile),
                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16 * g)));
        }
        dx[(tile * nb + ib) * kTileTok + lane] = b.d;
      }
    }
  }
  uint8_t* panel = Aligned(sc.panel, nb * kSuperB);
  auto* consts = reinterpret_cast<PanelConsts*>(Aligned(sc.consts, nb * sizeof(PanelConsts)));
  static const TileConfig cfg = MakeConfig(16);
  return RunPanels(
      cfg, Wp, group_bytes, n_tok, nb * kSuperA, r0, r1,
      [&](const uint8_t* g0) { PackPanel(g0, g0 + group_bytes, nb, panel, consts); },
      [&](int64_t t, int64_t r, int n_out, const uint8_t* pf, size_t pf_bytes) {
        const int64_t tile = t / kTileTok;
        TokenTile(xa + tile * nb * kSuperA, dx + tile * nb * kTileTok, panel, consts, nb,
                  y + t * ldy + r, ldy, n_out, pf, pf_bytes);
      });
}

}  // namespace

namespace internal {
int64_t MatMulRepackedQ6KAmx(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1) {
  return Run(static_cast<const uint8_t*>(Wp), k, static_cast<const BlockQ8_K*>(xq), n_tok, y, ldy,
             r0, r1);
}
}  // namespace internal

#endif  // SHOAL_HAVE_AMX (elsewhere amx.cc defines the entry point)

}  // namespace shoal::kernels
