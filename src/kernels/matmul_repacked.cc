// MatMulRepacked: q4_0 / q8_0 weights in the row-interleaved x8 layout of repack.h, compiled
// once per Highway target and dispatched once per call.
//
// AVX2 (x86 targets with AVX2): a tile is 8 rows (one group) x up to 4 tokens. Per block column
// the 8 f16 scales convert with one vcvtph2ps; per 32-byte chunk of weights (4 bytes of each row)
// every token broadcasts 4 activation bytes and one maddubs yields a partial dot per row in each
// 32-bit lane. q4_0: the nibble vectors are unsigned (0..15), the 8 chunks' int16 sums are added
// (|sum| <= 8 * 2 * 15 * 128 fits int16) and 8 * sum(x) per block is subtracted after the pair
// widening; q8_0: maddubs(|w|, sign(x, w)) widened to int32 per chunk. Each row's result is one
// float fmadd chain over its blocks, in block order, whatever the tile.
//
// Batches (n_tok > 1) run the batch tiles (RpGridBatch: balanced token tiles, the next rows
// prefetched into L2 meanwhile); on AVX3 targets of CPUs with AVX512-VNNI, two groups side by
// side in 512-bit registers (matmul_repacked_avx512-inl.h). See docs/kernels.md, "Batch tiles".
//
// Portable (other targets): each block column is restored to signed int8 rows and dotted with
// int16 widening multiply-adds, as MatMulQ32Portable does.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/amx.h"
#include "kernels/blocks.h"
#include "kernels/int8_dot.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "kernels/repack_q4k.h"
#include "kernels/repack_q6k.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_repacked.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#undef SHOAL_RP_AVX2
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define SHOAL_RP_AVX2 1
#else
#define SHOAL_RP_AVX2 0
#endif

struct RpArgs {
  const uint8_t* Wp;
  size_t group_bytes;  // 8 rows
  size_t col_bytes;    // one block column of a group: 8 blocks
  int64_t nb;          // blocks per row
  const uint8_t* xq;
  size_t x_row_bytes;
  float* y;
  int64_t ldy;
};

#if SHOAL_RP_AVX2
// Per token and block: the activation scale as float, 8 * (sum of the block's quants), and the
// value the vpdpbusd tiles start a block's integer sum at: -8 sum(x) for q4_0 (unsigned
// nibbles), -128 sum(x) for q8_0 (weights made unsigned by adding 128: w ^ 0x80).
struct RpSide {
  std::vector<float> dx;
  std::vector<int32_t> sx8;
  std::vector<int32_t> s0;
  void Fill(const RpArgs& a, int64_t n_tok, bool q4) {
    dx.resize(n_tok * a.nb);
    sx8.resize(n_tok * a.nb);
    s0.resize(n_tok * a.nb);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t t = 0; t < n_tok; ++t) {
      const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(a.xq + t * a.x_row_bytes);
      for (int64_t ib = 0; ib < a.nb; ++ib) {
        dx[t * a.nb + ib] = _cvtsh_ss(x[ib].d);
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[ib].qs));
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones16);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        const int32_t sum = _mm_cvtsi128_si32(h);
        sx8[t * a.nb + ib] = 8 * sum;
        s0[t * a.nb + ib] = (q4 ? -8 : -128) * sum;
      }
    }
  }
};

thread_local RpSide g_rp_side;

// Keeps v in a register at this point: stops the compiler from hoisting every chunk's products
// ahead of the sums (integer adds reassociate), which spilled most of them to the stack.
HWY_INLINE void Pin(__m256i& v) { asm("" : "+x"(v)); }

#include "kernels/dpbusd_avx2-inl.h"  // NOLINT(build/include)

// AVX3 targets compile the same AVX2 code with EVEX encodings: 32 vector registers, so wider
// register tiles fit without spilling.
constexpr bool kWideRegs = HWY_TARGET <= HWY_AVX3;

HWY_INLINE __m256i Bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Decode prefetch distance: 1536 bytes ahead in each group's stream (1 thread from DRAM under
// load, medians of 3: q4_0 14.6 vs 10.1 GB/s without, q8_0 9.6 vs 8.8).
constexpr size_t kPrefetchBytes = 1536;
// Plain rows read as 8 streams (one per row): prefetch distance in each.
constexpr size_t kPrefetchRowBytes = 512;

// Lines of the weights to prefetch into L2 while a multi-token tile runs: n lines of 64 bytes
// from p, spread evenly over the tile's blocks (none when n is 0).
struct RpPf {
  const uint8_t* p = nullptr;
  size_t n = 0;
};

// NG groups (8 NG rows from `row`, group data at g) x NT tokens from t. The arithmetic of each
// output is the same in every tile shape.
template <bool kQ4, int NG, int NT, int kDot>
HWY_INLINE void RpTile(const RpArgs& a, const RpSide& side, const uint8_t* g, int64_t row,
                       int64_t t, RpPf pf = {}) {
  const BlockQ8_0* xs[NT];
  const float* dx[NT];
  const int32_t* sx8[NT];
  const int32_t* s0x[NT];
  for (int j = 0; j < NT; ++j) {
    xs[j] = reinterpret_cast<const BlockQ8_0*>(a.xq + (t + j) * a.x_row_bytes);
    dx[j] = side.dx.data() + (t + j) * a.nb;
    sx8[j] = side.sx8.data() + (t + j) * a.nb;
    s0x[j] = side.s0.data() + (t + j) * a.nb;
  }
  __m256 acc[NG][NT];
  for (int i = 0; i < NG; ++i) {
    for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0xF), ones16 = _mm256_set1_epi16(1);
  size_t pf_acc = 0;
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* col = g + ib * a.col_bytes;
    if constexpr (NT > 1) {  // Bresenham: n lines over nb blocks
      for (pf_acc += pf.n; pf_acc >= static_cast<size_t>(a.nb); pf_acc -= a.nb, pf.p += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(pf.p), _MM_HINT_T1);
      }
    }
    if constexpr (NT == 1) {  // decode streams the weights from DRAM: prefetch ahead
      for (int i = 0; i < NG; ++i) {
        for (size_t o = 0; o < a.col_bytes; o += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(col + i * a.group_bytes + kPrefetchBytes + o),
                       _MM_HINT_T0);
        }
      }
    }
    __m256i s[NG][NT];
    if constexpr (kQ4) {
      for (int c = 0; c < 4; ++c) {
        for (int i = 0; i < NG; ++i) {
          const uint8_t* q = col + i * a.group_bytes + 2 * kRepackRows + 32 * c;
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
          const __m256i lo = _mm256_and_si256(v, m4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          for (int j = 0; j < NT; ++j) {
            if constexpr (kDot != 0) {  // int32 sums straight away, from -8 sum(x)
              const __m256i s0 = c == 0 ? _mm256_set1_epi32(s0x[j][ib]) : s[i][j];
              s[i][j] = Dpbusd<kDot>(Dpbusd<kDot>(s0, lo, Bcast4(xs[j][ib].qs + 4 * c)), hi,
                                     Bcast4(xs[j][ib].qs + 16 + 4 * c));
            } else {
              const __m256i p =
                  _mm256_add_epi16(_mm256_maddubs_epi16(lo, Bcast4(xs[j][ib].qs + 4 * c)),
                                   _mm256_maddubs_epi16(hi, Bcast4(xs[j][ib].qs + 16 + 4 * c)));
              s[i][j] = c == 0 ? p : _mm256_add_epi16(s[i][j], p);
              if constexpr (NT > 1) Pin(s[i][j]);
            }
          }
        }
      }
      if constexpr (kDot == 0) {
        for (int i = 0; i < NG; ++i) {
          for (int j = 0; j < NT; ++j) {
            s[i][j] =
                _mm256_sub_epi32(_mm256_madd_epi16(s[i][j], ones16), _mm256_set1_epi32(sx8[j][ib]));
          }
        }
      }
    } else if constexpr (kDot != 0) {
      // q8_0 with vpdpbusd: w + 128 (= w ^ 0x80) is unsigned, so the sum starts at -128 sum(x)
      // and needs no per-token sign fix-up.
      const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
      for (int c = 0; c < 8; ++c) {
        for (int i = 0; i < NG; ++i) {
          const uint8_t* q = col + i * a.group_bytes + 2 * kRepackRows + 32 * c;
          const __m256i wu =
              _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), k80);
          for (int j = 0; j < NT; ++j) {
            s[i][j] = Dpbusd<kDot>(c == 0 ? _mm256_set1_epi32(s0x[j][ib]) : s[i][j], wu,
                                   Bcast4(xs[j][ib].qs + 4 * c));
          }
        }
      }
    } else {
      for (int c = 0; c < 8; ++c) {
        for (int i = 0; i < NG; ++i) {
          const uint8_t* q = col + i * a.group_bytes + 2 * kRepackRows + 32 * c;
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
          const __m256i av = _mm256_abs_epi8(v);
          for (int j = 0; j < NT; ++j) {
            const __m256i xv = _mm256_sign_epi8(Bcast4(xs[j][ib].qs + 4 * c), v);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(av, xv), ones16);
            s[i][j] = c == 0 ? p : _mm256_add_epi32(s[i][j], p);
          }
        }
      }
    }
    for (int i = 0; i < NG; ++i) {
      const __m256 dw = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + i * a.group_bytes)));
      for (int j = 0; j < NT; ++j) {
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][j]),
                                    _mm256_mul_ps(dw, _mm256_broadcast_ss(dx[j] + ib)), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < NG; ++i) {
    for (int j = 0; j < NT; ++j) {
      _mm256_storeu_ps(a.y + (t + j) * a.ldy + row + i * kRepackRows, acc[i][j]);
    }
  }
}

// Rows [r, r + 8 NG) x all tokens (group data at g): tiles of NT tokens, then the remaining
// 0..NT-1 tokens.
template <bool kQ4, int NG, int NT, int kDot>
HWY_INLINE void RpRows(const RpArgs& a, const RpSide& side, const uint8_t* g, int64_t n_tok,
                       int64_t r) {
  int64_t t = 0;
  for (; t + NT <= n_tok; t += NT) RpTile<kQ4, NG, NT, kDot>(a, side, g, r, t);
  if constexpr (NT > 1) {
    if (n_tok - t == 1) RpTile<kQ4, NG, 1, kDot>(a, side, g, r, t);
  }
  if constexpr (NT > 2) {
    if (n_tok - t == 2) RpTile<kQ4, NG, 2, kDot>(a, side, g, r, t);
  }
  if constexpr (NT > 3) {
    if (n_tok - t == 3) RpTile<kQ4, NG, 3, kDot>(a, side, g, r, t);
  }
}

#undef SHOAL_RP_ZMM
#if HWY_TARGET <= HWY_AVX3
#define SHOAL_RP_ZMM 1
#include "kernels/matmul_repacked_avx512-inl.h"  // NOLINT(build/include)
#else
#define SHOAL_RP_ZMM 0
#endif

// Half h (16 bytes of quants) of one block of 8 rows (b: the first row's block, rows
// row_bytes apart), interleaved in 4-byte chunks as the x8 layout stores them
// (kernels/repack.h): ch[c] holds chunk c of rows 0-3 in its low 128-bit lane, of rows 4-7 in
// its high lane. Used by the packer and by decode on plain rows, so both agree by construction.
HWY_INLINE void InterleaveHalf(const uint8_t* b, size_t row_bytes, int h, __m256i ch[4]) {
  __m256i y[4];
  for (int i = 0; i < 4; ++i) {
    const uint8_t* lo = b + i * row_bytes + 2 + 16 * h;
    const uint8_t* hi = b + (i + 4) * row_bytes + 2 + 16 * h;
    y[i] = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)), 1);
  }
  const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
  ch[0] = _mm256_unpacklo_epi64(t0, t2);
  ch[1] = _mm256_unpackhi_epi64(t0, t2);
  ch[2] = _mm256_unpacklo_epi64(t1, t3);
  ch[3] = _mm256_unpackhi_epi64(t1, t3);
}

// Interleaves 8 GGUF rows (row stride row_bytes) into one x8 group at dst, as Repack does: per
// block column, a 4 x 4 transpose of 32-bit words inside each 128-bit lane (rows i and i + 4
// share a register).
template <bool kQ4>
HWY_INLINE void PackGroup(const uint8_t* rows, size_t row_bytes, int64_t nb, uint8_t* dst) {
  constexpr size_t kBB = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  constexpr int kHalves = kQ4 ? 1 : 2;  // 16 bytes of qs per half
  for (int64_t ib = 0; ib < nb; ++ib, dst += kRepackRows * kBB) {
    const uint8_t* b = rows + ib * kBB;
    for (int i = 0; i < kRepackRows; ++i) std::memcpy(dst + 2 * i, b + i * row_bytes, 2);
    for (int h = 0; h < kHalves; ++h) {
      __m256i ch[4];
      InterleaveHalf(b, row_bytes, h, ch);
      __m256i* c = reinterpret_cast<__m256i*>(dst + 2 * kRepackRows + 128 * h);
      for (int i = 0; i < 4; ++i) _mm256_storeu_si256(c + i, ch[i]);
    }
  }
}

// Decode on plain rows: one group of 8 rows x 1 token, interleaved in registers (the transpose
// of PackGroup) and multiplied as RpTile<kQ4, 1, 1> does, so results equal MatMulRepacked's.
// Side by side against the 4-row tiles (2048 x 2048 from L3 / the 1B decode from DRAM, medians
// of 5 / 3, loaded machine): q4_0 +29% / +32%, q8_0 -4% / +8%. Going through the L1 buffer
// instead was no faster than the 4-row tiles.
template <bool kQ4>
HWY_INLINE void PlainDecodeGroup(const RpArgs& a, const RpSide& side, const uint8_t* rows,
                                 size_t row_bytes, int64_t row) {
  constexpr size_t kBB = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  constexpr int kHalves = kQ4 ? 1 : 2;
  const BlockQ8_0* xs = reinterpret_cast<const BlockQ8_0*>(a.xq);
  const __m256i m4 = _mm256_set1_epi8(0xF), ones16 = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < a.nb; ++ib) {
    const uint8_t* b = rows + ib * kBB;
    for (int i = 0; i < kRepackRows; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(b + i * row_bytes + kPrefetchRowBytes),
                   _MM_HINT_T0);
    }
    uint16_t d[kRepackRows];
    for (int i = 0; i < kRepackRows; ++i) std::memcpy(&d[i], b + i * row_bytes, 2);
    __m256i s = _mm256_setzero_si256();
    for (int h = 0; h < kHalves; ++h) {
      __m256i ch[4];
      InterleaveHalf(b, row_bytes, h, ch);
      for (int c = 0; c < 4; ++c) {
        const int8_t* xq = xs[ib].qs + 4 * (4 * h + c);
        __m256i p;
        if constexpr (kQ4) {
          const __m256i lo = _mm256_and_si256(ch[c], m4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(ch[c], 4), m4);
          p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, Bcast4(xq)),
                               _mm256_maddubs_epi16(hi, Bcast4(xq + 16)));
          s = c == 0 ? p : _mm256_add_epi16(s, p);
        } else {
          p = _mm256_madd_epi16(
              _mm256_maddubs_epi16(_mm256_abs_epi8(ch[c]), _mm256_sign_epi8(Bcast4(xq), ch[c])),
              ones16);
          s = h == 0 && c == 0 ? p : _mm256_add_epi32(s, p);
        }
      }
    }
    if constexpr (kQ4) {
      s = _mm256_sub_epi32(_mm256_madd_epi16(s, ones16), _mm256_set1_epi32(side.sx8[ib]));
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                          _mm256_mul_ps(dw, _mm256_broadcast_ss(side.dx.data() + ib)), acc);
  }
  _mm256_storeu_ps(a.y + row, acc);
}

thread_local std::vector<uint8_t> g_pack_buf;

// Groups of rows from `r0` through the x8 tiles. Packed (a.Wp set): group data in place. Plain
// (W != nullptr): each tile's NG groups are first interleaved into a thread-local buffer.
// Returns the first row not done (rows past the last whole group are left to the caller).
template <bool kQ4, int NG, int NT, int kDot>
int64_t RpGridT(const RpArgs& a, const RpSide& side, int64_t n_tok, int64_t r0, int64_t r1,
                const uint8_t* W = nullptr, size_t w_row_bytes = 0) {
  if (W != nullptr && g_pack_buf.size() < NG * a.group_bytes) g_pack_buf.resize(NG * a.group_bytes);
  auto data = [&](int64_t r, int ng) {
    if (W == nullptr) return a.Wp + (r / kRepackRows) * a.group_bytes;
    for (int i = 0; i < ng; ++i) {
      PackGroup<kQ4>(W + (r + i * kRepackRows) * w_row_bytes, w_row_bytes, a.nb,
                     g_pack_buf.data() + i * a.group_bytes);
    }
    return static_cast<const uint8_t*>(g_pack_buf.data());
  };
  int64_t r = r0;
  for (; r + NG * kRepackRows <= r1; r += NG * kRepackRows) {
    RpRows<kQ4, NG, NT, kDot>(a, side, data(r, NG), n_tok, r);
  }
  for (; r + kRepackRows <= r1; r += kRepackRows) {
    RpRows<kQ4, 1, NT, kDot>(a, side, data(r, 1), n_tok, r);
  }
  return r;
}

// One tile of nt tokens (1 <= nt <= NTmax) from t: the instance for that width.
// kZ: 2-group tiles in 512-bit registers (RpTileZ).
template <bool kQ4, int NG, int NTmax, int kDot, bool kZ, int NT = NTmax>
HWY_INLINE void RpTileN(const RpArgs& a, const RpSide& side, const uint8_t* g, int64_t row,
                        int64_t t, int nt, RpPf pf) {
  if constexpr (NT >= 1) {
    if (nt == NT) {
#if SHOAL_RP_ZMM
      if constexpr (kZ && NG == 2) return RpTileZ<kQ4, NT>(a, side, g, row, t, pf);
#endif
      return RpTile<kQ4, NG, NT, kDot>(a, side, g, row, t, pf);
    }
    if constexpr (NT > 1) RpTileN<kQ4, NG, NTmax, kDot, kZ, NT - 1>(a, side, g, row, t, nt, pf);
  }
}

// Batches (2 .. a few dozen tokens): rows [r, r + 8 NG) x all tokens in P = ceil(n / NTmax)
// tiles of nearly equal width (10 tokens with NTmax 8: 5 + 5, not 8 + 2), and while they run,
// the next NG groups' weights (next_bytes at `next`) are prefetched into L2, spread over the P
// tiles: the stream from memory overlaps the arithmetic instead of preceding it.
template <bool kQ4, int NG, int NTmax, int kDot, bool kZ>
HWY_INLINE void RpRowsBatch(const RpArgs& a, const RpSide& side, const uint8_t* g, int64_t n_tok,
                            int64_t r, const uint8_t* next, size_t next_bytes) {
  const int64_t P = (n_tok + NTmax - 1) / NTmax, base = n_tok / P, extra = n_tok % P;
  const size_t lines = next_bytes / 64;
  int64_t t = 0;
  for (int64_t p = 0; p < P; ++p) {
    const int nt = static_cast<int>(base + (p < extra ? 1 : 0));
    const size_t l0 = lines * p / P, l1 = lines * (p + 1) / P;
    RpTileN<kQ4, NG, NTmax, kDot, kZ>(
        a, side, g, r, t, nt,
        RpPf{next == nullptr ? nullptr : next + 64 * l0, next == nullptr ? 0 : l1 - l0});
    t += nt;
  }
}

// As RpGridT for batches: RpRowsBatch over chunks of NG groups, then single groups.
template <bool kQ4, int NG, int NTmax, int kDot, bool kZ = false>
int64_t RpGridBatch(const RpArgs& a, const RpSide& side, int64_t n_tok, int64_t r0, int64_t r1,
                    const uint8_t* W = nullptr, size_t w_row_bytes = 0) {
  if (W != nullptr && g_pack_buf.size() < NG * a.group_bytes) g_pack_buf.resize(NG * a.group_bytes);
  // Group data of rows [r, r + 8 ng), and what to prefetch meanwhile (packed only: the groups
  // after them in the range, up to NG).
  auto run = [&](int64_t r, auto ng_c) {
    constexpr int ng = decltype(ng_c)::value;
    const uint8_t* g;
    const uint8_t* next = nullptr;
    size_t next_bytes = 0;
    if (W == nullptr) {
      g = a.Wp + (r / kRepackRows) * a.group_bytes;
      const int64_t left = (r1 - r) / kRepackRows - ng;
      next = g + ng * a.group_bytes;
      next_bytes = static_cast<size_t>(std::min<int64_t>(left, NG)) * a.group_bytes;
    } else {
      for (int i = 0; i < ng; ++i) {
        PackGroup<kQ4>(W + (r + i * kRepackRows) * w_row_bytes, w_row_bytes, a.nb,
                       g_pack_buf.data() + i * a.group_bytes);
      }
      g = g_pack_buf.data();
    }
    RpRowsBatch<kQ4, ng, NTmax, kDot, kZ>(a, side, g, n_tok, r, next, next_bytes);
  };
  int64_t r = r0;
  for (; r + NG * kRepackRows <= r1; r += NG * kRepackRows) {
    run(r, std::integral_constant<int, NG>());
  }
  for (; r + kRepackRows <= r1; r += kRepackRows) run(r, std::integral_constant<int, 1>());
  return r;
}

// Tile shapes (groups x tokens) measured on Zen 3 (2048 x 2048, 64 tokens, medians of 5):
// q4_0 prefill 2 x 3 (+18% over 1 x 4), q8_0 prefill 2 x 4 (+36%), q4_0 decode 2 x 1 (+15%),
// q8_0 decode 1 x 1 (2 x 1 lost ~10%). Batches on AVX3 (Intel Xeon with AVX512-VNNI, one
// thread, 2048 x 2048 from cache): 2 x 8 in 512-bit registers, 1.4-1.6x the 2 x 3 / 2 x 4
// 256-bit tiles from 4 to 64 tokens; without AVX512-VNNI, 2 x 6 in 256-bit registers.
template <bool kQ4, int kDot>
int64_t RpGridShapes(const RpArgs& a, const RpSide& side, int64_t n_tok, int64_t r0, int64_t r1,
                     const uint8_t* W, size_t w_row_bytes) {
  if (n_tok == 1) {
    if constexpr (kQ4) return RpGridT<kQ4, 2, 1, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
    return RpGridT<kQ4, 1, 1, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
  }
  if (!SmallBatchTiles()) {  // as before the batch tiles (benchmarks compare against it)
    if constexpr (kQ4) return RpGridT<kQ4, 2, 3, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
    return RpGridT<kQ4, 2, 4, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
  }
  // AVX3 (32 registers): 2 x 8 (512-bit) or 2 x 6 (256-bit); AVX2 (16): the prefill shapes.
  if constexpr (kWideRegs) {
#if SHOAL_RP_ZMM
    if constexpr (kDot != 0) {
      // q8_0 at 2 tokens: the 256-bit tiles (the 512-bit ones' extra mask and insert per chunk
      // cost more than the wider dots save: 0.88-0.93x from cache)
      if (HasAvx512Vnni() && (kQ4 || n_tok > 2)) {
        return RpGridBatch<kQ4, 2, 8, kDot, true>(a, side, n_tok, r0, r1, W, w_row_bytes);
      }
    }
#endif
    return RpGridBatch<kQ4, 2, 6, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
  }
  if constexpr (kQ4) return RpGridBatch<kQ4, 2, 3, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
  return RpGridBatch<kQ4, 2, 4, kDot>(a, side, n_tok, r0, r1, W, w_row_bytes);
}

// The int8 dot instruction (int8_dot.h) is chosen here, once per call.
template <bool kQ4>
int64_t RpGrid(const RpArgs& a, int64_t n_tok, int64_t r0, int64_t r1, const uint8_t* W = nullptr,
               size_t w_row_bytes = 0) {
  RpSide& side = g_rp_side;
  side.Fill(a, n_tok, kQ4);
  if (n_tok == 1 && W != nullptr) {
    int64_t r = r0;
    for (; r + kRepackRows <= r1; r += kRepackRows) {
      PlainDecodeGroup<kQ4>(a, side, W + r * w_row_bytes, w_row_bytes, r);
    }
    return r;
  }
  switch (Int8DotPath()) {
    case Int8Dot::kAvxVnni:
      return RpGridShapes<kQ4, 1>(a, side, n_tok, r0, r1, W, w_row_bytes);
    case Int8Dot::kAvx512Vnni:
      return RpGridShapes<kQ4, 2>(a, side, n_tok, r0, r1, W, w_row_bytes);
    default:
      return RpGridShapes<kQ4, 0>(a, side, n_tok, r0, r1, W, w_row_bytes);
  }
}
// MatMul on plain GGUF rows of q4_0 / q8_0 with the x8 kernels (called by matmul_simd.cc):
// rows [r0, r0 + 8 n) for the largest n that fits; returns r0 + 8 n. The results are
// bit-identical to MatMulRepacked on the repacked matrix.
int64_t MatMulQ32X8(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq,
                    int64_t n_tok, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const size_t rb = RowBytes(w, k);
  const bool q4 = w == DType::kQ4_0;
  const RpArgs a{nullptr,
                 kRepackRows * rb,
                 kRepackRows * (q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0)),
                 k / 32,
                 static_cast<const uint8_t*>(xq),
                 ActivationRowBytes(w, k),
                 y,
                 ldy};
  const uint8_t* Wb = static_cast<const uint8_t*>(W);
  return q4 ? RpGrid<true>(a, n_tok, r0, r1, Wb, w_row_bytes)
            : RpGrid<false>(a, n_tok, r0, r1, Wb, w_row_bytes);
}
#endif  // SHOAL_RP_AVX2

// Portable: restore each block column to int8 rows, then int16 widening dots per token.
template <bool kQ4>
void RpPortable(const RpArgs& a, int64_t n_tok, int64_t r0, int64_t r1) {
  const hn::CappedTag<int16_t, 16> d16;  // at most 16 lanes: divides a block
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const size_t N = hn::Lanes(d16);
  constexpr int kChunks = kQ4 ? 4 : 8;
  int8_t wq[kRepackRows][32];
  std::vector<float> acc(kRepackRows * n_tok);
  for (int64_t r = r0; r < r1; r += kRepackRows) {
    const uint8_t* g = a.Wp + (r / kRepackRows) * a.group_bytes;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t ib = 0; ib < a.nb; ++ib) {
      const uint8_t* col = g + ib * a.col_bytes;
      const uint8_t* q = col + 2 * kRepackRows;
      for (int c = 0; c < kChunks; ++c) {
        for (int i = 0; i < kRepackRows; ++i) {
          for (int m = 0; m < 4; ++m) {
            const uint8_t b = q[32 * c + 4 * i + m];
            if constexpr (kQ4) {
              wq[i][4 * c + m] = static_cast<int8_t>((b & 0xF) - 8);
              wq[i][16 + 4 * c + m] = static_cast<int8_t>((b >> 4) - 8);
            } else {
              wq[i][4 * c + m] = static_cast<int8_t>(b);
            }
          }
        }
      }
      for (int64_t t = 0; t < n_tok; ++t) {
        const BlockQ8_0& x = reinterpret_cast<const BlockQ8_0*>(a.xq + t * a.x_row_bytes)[ib];
        const float dx = F16ToF32(x.d);
        for (int i = 0; i < kRepackRows; ++i) {
          auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
          for (size_t v = 0; v < 32; v += N) {
            s0 = hn::ReorderWidenMulAccumulate(d32, hn::PromoteTo(d16, hn::LoadU(d8, wq[i] + v)),
                                               hn::PromoteTo(d16, hn::LoadU(d8, x.qs + v)), s0, s1);
          }
          const int32_t isum = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
          uint16_t dw;
          std::memcpy(&dw, col + 2 * i, 2);
          acc[t * kRepackRows + i] += F16ToF32(dw) * dx * static_cast<float>(isum);
        }
      }
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int i = 0; i < kRepackRows; ++i) a.y[t * a.ldy + r + i] = acc[t * kRepackRows + i];
    }
  }
}

void MatMulRepackedT(DType w, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                     int64_t ldy, int64_t r0, int64_t r1) {
  const size_t rb = RowBytes(w, k);
  const RpArgs a{static_cast<const uint8_t*>(Wp),
                 kRepackRows * rb,
                 kRepackRows * (w == DType::kQ4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0)),
                 k / 32,
                 static_cast<const uint8_t*>(xq),
                 ActivationRowBytes(w, k),
                 y,
                 ldy};
  const bool q4 = w == DType::kQ4_0;
#if SHOAL_RP_AVX2
  // AMX tiles (amx.h) where the CPU and OS have them: bit-identical to the tiles below, which
  // finish the rows they leave (at most one group).
  if (n_tok >= kAmxMinTokens && AmxEnabled()) {
    r0 = internal::MatMulRepackedQ32Amx(q4, Wp, k, xq, n_tok, y, ldy, r0, r1);
    if (r0 >= r1) return;
  }
  if (q4) {
    RpGrid<true>(a, n_tok, r0, r1);
  } else {
    RpGrid<false>(a, n_tok, r0, r1);
  }
#else
  return q4 ? RpPortable<true>(a, n_tok, r0, r1) : RpPortable<false>(a, n_tok, r0, r1);
#endif
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels {
HWY_EXPORT(MatMulRepackedT);

void MatMulRepacked(DType w, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                    int64_t ldy, int64_t r0, int64_t r1) {
  if (r0 >= r1 || n_tok <= 0) return;
  if (w == DType::kQ4_K) return internal::MatMulRepackedQ4K(Wp, k, xq, n_tok, y, ldy, r0, r1);
  if (w == DType::kQ6_K) return internal::MatMulRepackedQ6K(Wp, k, xq, n_tok, y, ldy, r0, r1);
  HWY_DYNAMIC_DISPATCH(MatMulRepackedT)(w, Wp, k, xq, n_tok, y, ldy, r0, r1);
}
}  // namespace shoal::kernels
#endif  // HWY_ONCE
