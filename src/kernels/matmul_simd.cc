// SIMD matmul, activation conversion and dequantization, compiled once per Highway target and
// dispatched once per call. On x86 targets with AVX2 the integer block dots use hand-written
// AVX2 (maddubs, or vpdpbusd where int8_dot.h chose it) kernels for every quant type, the
// i-quants and MXFP4 included (*-inl.h); the portable Highway path covers float weights, q4_0 /
// q8_0, and every other quant through its integer form (int16 widening multiply-add).
//
// Tiling: rows are processed RT at a time and tokens NT at a time, so each weight block loaded
// from memory is reused for NT tokens (prefill is compute bound) while decode (NT = 1) keeps RT
// independent accumulator chains per token.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/int8_dot.h"
#include "kernels/iquant_grids.h"
#include "kernels/iquants.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_simd.cc"
#include <hwy/cache_control.h>
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
  // Decode: the next tile's weights (pf_lines cache lines from pf), prefetched a share per block
  // by the kernel running now (PrefetchUpto); pf_lines = 0 outside the decode loops.
  mutable const uint8_t* pf = nullptr;
  mutable size_t pf_lines = 0, pf_done = 0;
};

// Decode streams the weights from memory once, a few rows at a time. The rows of one tile are as
// many short streams (a 2048-wide iq4_xs row is 1088 bytes), too short for the hardware
// prefetchers to catch. So while a tile runs, it prefetches the next tile's rows (one contiguous
// range), spread evenly over its blocks: PrefetchNext(a, r, n) before the tile, then
// PrefetchUpto(a, i, nb) in the tile's block loop issues the lines due by block i of nb.
// Prefetching only each row's first KiB, or the whole next tile at once, was slower on long rows;
// see docs/kernels.md.
HWY_INLINE void PrefetchNext(const Args& a, int64_t r, int64_t n) {
  a.pf = a.W + r * a.w_row_bytes;
  a.pf_lines = n > 0 ? (static_cast<size_t>(n) * a.w_row_bytes + 63) / 64 : 0;
  a.pf_done = 0;
}
HWY_INLINE void PrefetchUpto(const Args& a, int64_t i, int64_t nb) {
  const size_t until = a.pf_lines * static_cast<size_t>(i) / static_cast<size_t>(nb);
  for (; a.pf_done < until; ++a.pf_done) hwy::Prefetch(a.pf + 64 * a.pf_done);
}

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
    for (; r + RT1 <= r1; r += RT1) {
      if constexpr (RT1 > 1) PrefetchNext(a, r + RT1, std::min<int64_t>(RT1, r1 - r - RT1));
      Kernel<RT1, 1>::Run(a, r, t);
    }
    a.pf_lines = 0;
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
  if (IsIQuant(t)) {  // no mins; integer form from iquants.h
    IntBlock b;
    UnpackIQBlock(t, p, &b);
    std::memcpy(u->v, b.v, sizeof(b.v));
    std::memcpy(u->sc, b.sc, sizeof(b.sc));
    u->groups = b.groups, u->group_len = b.group_len, u->d = b.d;
    return;
  }
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
#include "kernels/dpbusd_avx2-inl.h"      // NOLINT(build/include)
#include "kernels/matmul_avx2-inl.h"      // NOLINT(build/include)
#include "kernels/matmul_iq4_avx2-inl.h"  // NOLINT(build/include)
#include "kernels/matmul_iq_avx2-inl.h"   // NOLINT(build/include)
#include "kernels/matmul_q4k_avx2-inl.h"  // NOLINT(build/include)
#include "kernels/matmul_q6k_avx2-inl.h"  // NOLINT(build/include)
#if HWY_TARGET <= HWY_AVX3
#include "kernels/matmul_iq_avx512-inl.h"  // NOLINT(build/include)
#endif

// The grid i-quants: 512-bit vpdpbusd tiles where the CPU has AVX512-VNNI (on AVX3 targets),
// else the AVX2 tiles.
template <DType T>
void IQGrid(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
#if HWY_TARGET <= HWY_AVX3
  if (HasAvx512Vnni()) return IQGridZRun<T>(a, n_tok, r0, r1);
#endif
  const int64_t t = IQPrefillTiles<IQPrefillAvx2<T>, 16>(a, n_tok, r0, r1);
  if (t < n_tok) {
    const Args rest{a.W,           a.w_row_bytes,   a.k,  a.xq + t * a.x_row_bytes,
                    a.x_row_bytes, a.y + t * a.ldy, a.ldy};
    Grid<1, 4, IQGridAvx2<T>::template K>(rest, n_tok - t, r0, r1);
  }
}

// iq4_nl / MXFP4 tiles with the int8 dot instruction chosen for this CPU (int8_dot.h).
template <DType T>
void IQ4Q32Grid(const Args& a, int64_t n_tok, int64_t r0, int64_t r1) {
  switch (Int8DotPath()) {
    case Int8Dot::kAvxVnni:
      return Grid<2, 4, IQ4Q32Avx2<T, 1>::template K>(a, n_tok, r0, r1);
    case Int8Dot::kAvx512Vnni:
      return Grid<2, 4, IQ4Q32Avx2<T, 2>::template K>(a, n_tok, r0, r1);
    default:
      return Grid<2, 4, IQ4Q32Avx2<T, 0>::template K>(a, n_tok, r0, r1);
  }
}

// In matmul_repacked.cc (same targets): q4_0 / q8_0 rows through the x8 kernels, interleaved on
// the fly; returns the first row it left (the rows past the last whole group of 8).
int64_t MatMulQ32X8(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq,
                    int64_t n_tok, float* y, int64_t ldy, int64_t r0, int64_t r1);
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
      r0 = MatMulQ32X8(w, W, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
      return Grid<2, 4, Q32Avx2<DType::kQ4_0>::K>(a, n_tok, r0, r1);
    case DType::kQ8_0:
      r0 = MatMulQ32X8(w, W, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
      return Grid<2, 4, Q32Avx2<DType::kQ8_0>::K>(a, n_tok, r0, r1);
    case DType::kQ4_1:
      return Grid<2, 4, Q32Avx2<DType::kQ4_1>::K>(a, n_tok, r0, r1);
    case DType::kQ5_0:
      return Grid<2, 4, Q32Avx2<DType::kQ5_0>::K>(a, n_tok, r0, r1);
    case DType::kQ5_1:
      return Grid<2, 4, Q32Avx2<DType::kQ5_1>::K>(a, n_tok, r0, r1);
    case DType::kQ4_K:
      return Grid<1, 2, Q4KAvx2::K>(a, n_tok, r0, r1);
    case DType::kQ6_K:
      return Grid<1, 2, Q6KAvx2::K>(a, n_tok, r0, r1);
    case DType::kQ5_K:
      return Grid<1, 1, KQuantAvx2<BlockQ5_K, DotQ5K>::K>(a, n_tok, r0, r1);
    case DType::kQ3_K:
      return Grid<1, 1, KQuantAvx2<BlockQ3_K, DotQ3K>::K>(a, n_tok, r0, r1);
    case DType::kQ2_K:
      return Grid<1, 1, KQuantAvx2<BlockQ2_K, DotQ2K>::K>(a, n_tok, r0, r1);
    case DType::kIQ4_NL:
      return IQ4Q32Grid<DType::kIQ4_NL>(a, n_tok, r0, r1);
    case DType::kMXFP4:
      return IQ4Q32Grid<DType::kMXFP4>(a, n_tok, r0, r1);
    case DType::kIQ4_XS:
#if HWY_TARGET <= HWY_AVX3
      if (HasAvx512Vnni()) return Grid<2, 4, IQ4XSZ::K>(a, n_tok, r0, r1);
#endif
      return Grid<1, 4, IQ4XSAvx2::K>(a, n_tok, r0, r1);
    case DType::kIQ2_XXS:
      return IQGrid<DType::kIQ2_XXS>(a, n_tok, r0, r1);
    case DType::kIQ2_XS:
      return IQGrid<DType::kIQ2_XS>(a, n_tok, r0, r1);
    case DType::kIQ2_S:
      return IQGrid<DType::kIQ2_S>(a, n_tok, r0, r1);
    case DType::kIQ3_XXS:
      return IQGrid<DType::kIQ3_XXS>(a, n_tok, r0, r1);
    case DType::kIQ3_S:
      return IQGrid<DType::kIQ3_S>(a, n_tok, r0, r1);
    case DType::kIQ1_S:
      return IQGrid<DType::kIQ1_S>(a, n_tok, r0, r1);
    case DType::kIQ1_M:
      return IQGrid<DType::kIQ1_M>(a, n_tok, r0, r1);
#else
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kIQ4_NL:
    case DType::kIQ4_XS:
    case DType::kMXFP4:
    case DType::kIQ2_XXS:
    case DType::kIQ2_XS:
    case DType::kIQ2_S:
    case DType::kIQ3_XXS:
    case DType::kIQ3_S:
    case DType::kIQ1_S:
    case DType::kIQ1_M:
      return MatMulUnpacked(w, a, n_tok, r0, r1);
    case DType::kQ4_0:
      return MatMulQ32Portable<DType::kQ4_0>(a, n_tok, r0, r1);
    case DType::kQ8_0:
      return MatMulQ32Portable<DType::kQ8_0>(a, n_tok, r0, r1);
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
