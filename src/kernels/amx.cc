// AMX int8 tiles for the x8 q4_0 / q8_0 batch matmul (amx.h), and what every AMX matmul shares
// at run time: the detection, the switch, the probe loop.
//
// A panel is 16 weight rows (two x8 groups). Its blocks are unpacked once per pass into the
// B-tile layout (per block of 32 values: 8 tile rows of 64 bytes, row k holding values 4k..4k+3
// of each of the 16 weight rows, as signed bytes: q4_0's nibbles minus 8, q8_0's bytes as they
// are) with the 16 rows' block scales as floats beside them. The activations are copied once per
// call into A tiles (16 tokens x 32 bytes per block, contiguous; a last partial tile zero-padded).
// Every tile of 16 tokens then runs over the blocks: one TDPBSSD gives the block's exact integer
// dots for 16 tokens x 16 rows, and AVX-512 finishes them as the vector tiles do,
// acc = fma(float(dot), d_w * d_x, acc), block by block in order. The integer sums are exact and
// the float steps are the same operations in the same order, so every output is bit-identical to
// the vector tiles' (and to the token decoded alone). Two sets of tiles alternate between
// blocks, so the next block's tile product runs while AVX-512 finishes the last one
// (amx_internal.h).
#include "kernels/amx.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/amx_internal.h"
#include "kernels/blocks.h"
#include "kernels/repack.h"

#if SHOAL_HAVE_AMX
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace shoal::kernels {

#if SHOAL_HAVE_AMX
namespace {
using namespace amx;  // NOLINT(build/namespaces)

constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: request a dynamic xstate feature
constexpr long kXfeatureXtiledata = 18;

bool Detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = d & (1u << 24), int8 = d & (1u << 25);
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31)) &&
                      (b & (1u << 17));  // F, BW, VL, DQ
  if (!tile || !int8 || !avx512) return false;
  // The OS must enable the tile state in XCR0 (bits 17, 18) and grant it to this process.
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

bool FromEnv() {
  const char* v = std::getenv("SHOAL_AMX");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

std::atomic<bool>& Enabled() {
  static std::atomic<bool> on{AmxAvailable() && FromEnv()};
  return on;
}

constexpr size_t kPanelBlockBytes = kBTileBytes;  // one block of the panel

struct Scratch {
  std::vector<uint8_t> panel;  // nb * 512 bytes, aligned inside
  std::vector<uint8_t> dw;     // nb * 16 floats: the panel's block scales, aligned inside
  std::vector<uint8_t> dx;     // activation scales as floats: [token tile][block][16]
  std::vector<uint8_t> xa;     // activations in the A-tile layout: [token tile][block][16][32]
};

thread_local Scratch g_scratch;

// Unpacks the 16 rows of groups g0 and g1 (x8 layout) into the B-tile layout and their scales.
template <bool kQ4>
SHOAL_AMX_TARGET void PackPanel(const uint8_t* g0, const uint8_t* g1, size_t col_bytes, int64_t nb,
                                uint8_t* panel, float* dw) {
  const __m512i m4 = _mm512_set1_epi8(0xF), k8 = _mm512_set1_epi8(8);
  for (int64_t ib = 0; ib < nb; ++ib) {
    const uint8_t* c0 = g0 + ib * col_bytes;
    const uint8_t* c1 = g1 + ib * col_bytes;
    uint8_t* out = panel + ib * kPanelBlockBytes;
    _mm512_storeu_ps(dw + 16 * ib, Halves16(c0, c1));
    for (int c = 0; c < (kQ4 ? 4 : 8); ++c) {
      const size_t o = 2 * kRepackRows + 32 * c;
      const __m512i v = Load2x32(c0 + o, c1 + o);
      if constexpr (kQ4) {
        _mm512_store_si512(out + 64 * c, _mm512_sub_epi8(_mm512_and_si512(v, m4), k8));
        _mm512_store_si512(out + 64 * (4 + c),
                           _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), k8));
      } else {
        _mm512_store_si512(out + 64 * c, v);
      }
    }
  }
}

// acc[m] = fma(float(c[m]), dw * dx[m], acc[m]) for the 16 tokens of the tile.
SHOAL_AMX_TARGET __attribute__((always_inline)) inline void Finish(const int32_t* c,
                                                                   const float* dw, const float* dx,
                                                                   __m512 acc[kTileTok]) {
  const __m512 w = _mm512_load_ps(dw);
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) {
    acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m)),
                             _mm512_mul_ps(w, _mm512_set1_ps(dx[m])), acc[m]);
  }
}

// 16 tokens (their activations at a and scales at dx, in the tile layout [block][16 tokens])
// x one panel: y rows [row, row + 16) of the first n_out tokens. Meanwhile pf_bytes from pf (the
// next panel's weights) are prefetched into L2, spread over the blocks.
SHOAL_AMX_TARGET void TokenTile(const uint8_t* a, const uint8_t* panel, const float* dw,
                                const float* dx, int64_t nb, float* y, int64_t ldy, int n_out,
                                const uint8_t* pf, size_t pf_bytes) {
  alignas(64) int32_t c[2][kTileTok * 16];
  __m512 acc[kTileTok];
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) acc[m] = _mm512_setzero_ps();
  constexpr size_t kA = kTileTok * 32;  // A-tile bytes of one block
  SpreadPrefetch prefetch{pf, pf_bytes / 64, static_cast<size_t>(nb)};
  Product<0>(a, 32, panel);
  for (int64_t ib = 0; ib < nb; ib += 2) {
    prefetch.Upto(static_cast<size_t>(ib + 2));
    const bool two = ib + 1 < nb;
    if (two) Product<1>(a + (ib + 1) * kA, 32, panel + (ib + 1) * kPanelBlockBytes);
    StoreC<0>(c[0]);
    Finish(c[0], dw + 16 * ib, dx + kTileTok * ib, acc);
    if (two) {
      if (ib + 2 < nb) Product<0>(a + (ib + 2) * kA, 32, panel + (ib + 2) * kPanelBlockBytes);
      StoreC<1>(c[1]);
      Finish(c[1], dw + 16 * (ib + 1), dx + kTileTok * (ib + 1), acc);
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) {
    if (m < n_out) _mm512_storeu_ps(y + m * ldy, acc[m]);
  }
}

template <bool kQ4>
SHOAL_AMX_TARGET int64_t Run(const uint8_t* Wp, int64_t k, const uint8_t* xq, int64_t n_tok,
                             float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / 32;
  const size_t block_bytes = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const size_t col_bytes = kRepackRows * block_bytes;
  const size_t group_bytes = static_cast<size_t>(nb) * col_bytes;
  const size_t x_row = static_cast<size_t>(nb) * sizeof(BlockQ8_0);
  const int64_t n_tiles = TokenTiles(n_tok);
  Scratch& sc = g_scratch;
  // The activations' int8 values and scales (as floats) in the tile layout; zero padding.
  float* dx = reinterpret_cast<float*>(Aligned(sc.dx, n_tiles * kTileTok * nb * sizeof(float)));
  uint8_t* xa = Aligned(sc.xa, n_tiles * kTileTok * nb * 32);
  if (n_tok % kTileTok != 0) {
    std::memset(xa + (n_tiles - 1) * kTileTok * nb * 32, 0, kTileTok * nb * 32);
    std::memset(dx + (n_tiles - 1) * kTileTok * nb, 0, kTileTok * nb * sizeof(float));
  }
  // Written in order (tile, block, token): the stores run contiguously, the loads stride.
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTileTok) {
    const int64_t lanes = std::min<int64_t>(kTileTok, n_tok - t0);
    for (int64_t ib = 0; ib < nb; ++ib) {
      const int64_t at = t0 * nb + ib * kTileTok;  // this tile's entry for block ib
      for (int64_t lane = 0; lane < lanes; ++lane) {
        const BlockQ8_0& b = reinterpret_cast<const BlockQ8_0*>(xq + (t0 + lane) * x_row)[ib];
        dx[at + lane] = _cvtsh_ss(b.d);
        _mm256_store_si256(reinterpret_cast<__m256i*>(xa + 32 * (at + lane)),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)));
      }
    }
  }
  uint8_t* panel = Aligned(sc.panel, nb * kPanelBlockBytes);
  float* dw = reinterpret_cast<float*>(Aligned(sc.dw, nb * 16 * sizeof(float)));
  static const TileConfig cfg = MakeConfig();
  return RunPanels(
      cfg, Wp, group_bytes, n_tok, static_cast<size_t>(kTileTok * nb * 32), r0, r1,
      [&](const uint8_t* g0) { PackPanel<kQ4>(g0, g0 + group_bytes, col_bytes, nb, panel, dw); },
      [&](int64_t t, int64_t r, int n_out, const uint8_t* pf, size_t pf_bytes) {
        TokenTile(xa + t * nb * 32, panel, dw, dx + t * nb, nb, y + t * ldy + r, ldy, n_out, pf,
                  pf_bytes);
      });
}

}  // namespace

SHOAL_AMX_TARGET int64_t AmxPeakLoop(int64_t iters) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  alignas(64) int8_t a[16 * 64];
  for (int i = 0; i < 16 * 64; ++i) a[i] = static_cast<int8_t>(i * 7 + 3);
  _tile_loadconfig(&cfg);
  _tile_loadd(0, a, 64);
  _tile_loadd(1, a, 64);
  _tile_loadd(2, a, 64);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbssd(4, 0, 1);
    _tile_dpbssd(5, 0, 2);
    _tile_dpbssd(6, 1, 2);
    _tile_dpbssd(7, 2, 1);
  }
  alignas(64) int32_t c[4][256];
  _tile_stored(4, c[0], 64);
  _tile_stored(5, c[1], 64);
  _tile_stored(6, c[2], 64);
  _tile_stored(7, c[3], 64);
  _tile_release();
  return int64_t{c[0][0]} + c[1][17] + c[2][100] + c[3][255];
}

bool AmxAvailable() {
  static const bool available = Detect();
  return available;
}

bool AmxEnabled() { return Enabled().load(std::memory_order_relaxed); }

bool SetAmx(bool on) {
  Enabled().store(on && AmxAvailable(), std::memory_order_relaxed);
  return AmxEnabled();
}

namespace internal {
int64_t MatMulRepackedQ32Amx(bool q4, const void* Wp, int64_t k, const void* xq, int64_t n_tok,
                             float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const auto* w = static_cast<const uint8_t*>(Wp);
  const auto* x = static_cast<const uint8_t*>(xq);
  return q4 ? Run<true>(w, k, x, n_tok, y, ldy, r0, r1)
            : Run<false>(w, k, x, n_tok, y, ldy, r0, r1);
}
}  // namespace internal

#else  // no AMX on this platform

bool AmxAvailable() { return false; }
bool AmxEnabled() { return false; }
int64_t AmxPeakLoop(int64_t) { return 0; }
bool SetAmx(bool) { return false; }

namespace internal {  // the AMX files' entry points, which compile to nothing here
int64_t MatMulRepackedQ32Amx(bool, const void*, int64_t, const void*, int64_t, float*, int64_t,
                             int64_t r0, int64_t) {
  return r0;
}
int64_t MatMulRepackedQ4KAmx(const void*, int64_t, const void*, int64_t, float*, int64_t,
                             int64_t r0, int64_t) {
  return r0;
}
int64_t MatMulRepackedQ6KAmx(const void*, int64_t, const void*, int64_t, float*, int64_t,
                             int64_t r0, int64_t) {
  return r0;
}
}  // namespace internal

#endif

}  // namespace shoal::kernels
