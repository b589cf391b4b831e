// Internal: what the AMX matmuls (amx.cc: q4_0 / q8_0, amx_q4k.cc: q4_K) share. Not part of the
// kernels API (amx.h is).
//
// Tiles: two sets, 0-2 and 3-5, each an A tile (16 tokens x 32 int8), a B tile (8 rows of 64
// bytes: 32 values of 16 weight rows, 4 consecutive values of one row per 4 bytes, as the tile
// product reads them) and a C tile (16 x 16 int32); q6_K's tiles hold 16 values, not 32. The
// kernels alternate the sets between blocks, so one block's tile product runs while AVX-512
// finishes the one before.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define SHOAL_HAVE_AMX 1
#include <immintrin.h>
#else
#define SHOAL_HAVE_AMX 0
#endif

#if SHOAL_HAVE_AMX
// GCC 12's AVX-512 headers build some results from a deliberately undefined vector (as Highway,
// which silences the same warning around its own uses of them).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The ISA of every function that runs on the tiles (chosen at run time by AmxEnabled()).
#define SHOAL_AMX_TARGET \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))

namespace shoal::kernels::amx {

inline constexpr int kTileTok = 16;  // tokens per A and C tile

// Token tiles for n_tok tokens: the last one zero-padded when n_tok is not a multiple of 16.
inline int64_t TokenTiles(int64_t n_tok) { return (n_tok + kTileTok - 1) / kTileTok; }
inline constexpr size_t kBTileBytes = 512;  // one B tile: 32 values of 16 rows

// Activation bytes per pass over the panels: the tokens' A tiles stay in L2 (1 MiB of the 2 MiB
// of Sapphire Rapids' L2) while every panel of the range runs over them; more tokens take more
// passes, each re-reading and unpacking the weights (measured at k 5632, 512 tokens: passes of
// 1 MiB take 0.8-0.9x the time of passes of 128 tokens).
inline constexpr int64_t kChunkBytes = int64_t{1} << 20;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// k_bytes: the values per tile product (32; q6_K's sub-blocks: 16).
inline TileConfig MakeConfig(int k_bytes = 32) {
  TileConfig cfg;
  for (int set = 0; set < 2; ++set) {
    cfg.rows[3 * set + 0] = 16, cfg.colsb[3 * set + 0] = static_cast<uint16_t>(k_bytes);
    cfg.rows[3 * set + 1] = static_cast<uint8_t>(k_bytes / 4), cfg.colsb[3 * set + 1] = 64;
    cfg.rows[3 * set + 2] = 16, cfg.colsb[3 * set + 2] = 64;
  }
  return cfg;
}

// v's storage, grown to `bytes` past a 64-byte boundary; returns that boundary.
inline uint8_t* Aligned(std::vector<uint8_t>& v, size_t bytes) {
  if (v.size() < bytes + 63) v.resize(bytes + 63);
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});
}

// One block's tile product into tile set S: A (lda bytes between tokens) times B, into a zeroed
// C. kSignedB: B holds signed bytes (TDPBSSD), else unsigned ones (TDPBSUD); A is signed.
template <int S, bool kSignedB = true>
SHOAL_AMX_TARGET inline void Product(const uint8_t* a, size_t lda, const uint8_t* b) {
  if constexpr (S == 0) {
    _tile_loadd(0, a, lda);
    _tile_loadd(1, b, 64);
    _tile_zero(2);
    if constexpr (kSignedB) {
      _tile_dpbssd(2, 0, 1);
    } else {
      _tile_dpbsud(2, 0, 1);
    }
  } else {
    _tile_loadd(3, a, lda);
    _tile_loadd(4, b, 64);
    _tile_zero(5);
    if constexpr (kSignedB) {
      _tile_dpbssd(5, 3, 4);
    } else {
      _tile_dpbsud(5, 3, 4);
    }
  }
}

// Set S's C tile to c (16 rows of 16 int32).
template <int S>
SHOAL_AMX_TARGET inline void StoreC(int32_t* c) {
  if constexpr (S == 0) {
    _tile_stored(2, c, 64);
  } else {
    _tile_stored(5, c, 64);
  }
}

// 32 bytes at p0 then 32 at p1 (the same chunk of two x8 groups: 16 rows).
SHOAL_AMX_TARGET inline __m512i Load2x32(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)), 1);
}

// The 16 rows' f16 values, 8 at p0 and 8 at p1, as floats.
SHOAL_AMX_TARGET inline __m512 Halves16(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_cvtph_ps(_mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1));
}

// The k-quant tiles' step per sub-block: fs[m] = fma(float(c[m]), sc, fs[m]) for the 16 tokens
// (c: the C tile's sums, sc: the 16 rows' sub-block scales as floats).
SHOAL_AMX_TARGET __attribute__((always_inline)) inline void ScaledSums(const int32_t* c,
                                                                       const float* sc,
                                                                       __m512 fs[kTileTok]) {
  const __m512 s = _mm512_load_ps(sc);
#pragma GCC unroll 16
  for (int m = 0; m < kTileTok; ++m) {
    fs[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m)), s, fs[m]);
  }
}

// Prefetches `lines` cache lines from p into L2, spread over the n steps of a loop: Upto(i) issues
// those due by step i.
struct SpreadPrefetch {
  const uint8_t* p;
  size_t lines, n, done = 0;
  SHOAL_AMX_TARGET inline void Upto(size_t i) {
    for (const size_t until = lines * i / n; done < until && done < lines; ++done) {
      _mm_prefetch(reinterpret_cast<const char*>(p + 64 * done), _MM_HINT_T1);
    }
  }
};

// The loop every AMX matmul runs, with tile config cfg loaded: panels of 16 rows (two x8 groups
// of group_bytes from Wp) from r0 while they fit before r1, each unpacked by pack(g0) and run
// over the token tiles by tile(t, n_out, pf, pf_bytes) (tokens [t, t + 16), the first n_out of
// them real), tokens in passes of kChunkBytes (tile_bytes: one token tile's A tiles). While the
// first token tile of a pass runs, the next panel's weights are prefetched (pf, pf_bytes).
// Returns the end of the rows done.
template <typename Pack, typename Tile>
SHOAL_AMX_TARGET int64_t RunPanels(const TileConfig& cfg, const uint8_t* Wp, size_t group_bytes,
                                   int64_t n_tok, size_t tile_bytes, int64_t r0, int64_t r1,
                                   Pack pack, Tile tile) {
  constexpr int64_t kPanelRows = 16;
  const int64_t n_pad = TokenTiles(n_tok) * kTileTok;
  const int64_t r_end = r0 + (r1 - r0) / kPanelRows * kPanelRows;
  const int64_t chunk =
      std::max<int64_t>(1, kChunkBytes / static_cast<int64_t>(tile_bytes)) * kTileTok;
  _tile_loadconfig(&cfg);
  for (int64_t t0 = 0; t0 < n_pad; t0 += chunk) {
    const int64_t t1 = std::min<int64_t>(n_pad, t0 + chunk);
    for (int64_t r = r0; r < r_end; r += kPanelRows) {
      const uint8_t* g0 = Wp + (r / 8) * group_bytes;
      pack(g0);
      const size_t next_bytes = r + 2 * kPanelRows <= r_end ? 2 * group_bytes : 0;
      for (int64_t t = t0; t < t1; t += kTileTok) {
        tile(t, r, static_cast<int>(std::min<int64_t>(kTileTok, n_tok - t)), g0 + 2 * group_bytes,
             t == t0 ? next_bytes : 0);
      }
    }
  }
  _tile_release();
  return r_end;
}

}  // namespace shoal::kernels::amx

#endif  // SHOAL_HAVE_AMX
