// Highway version of Attention (attention.h), compiled once per SIMD target (foreach_target) and
// dispatched once per call. Per group of rows and tile of positions: the tile's keys and values
// are converted to f32 once (into L1), scores are 4 positions at a time per row (one query load
// for 4 keys), the softmax update is vectorized, and each row's output accumulates the tile's
// values in registers, 4 vectors of the value width at a time.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/quant.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// after highway.h: per-target
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// As in ops.cc: hardware f16 conversion where it rounds as the scalar one does.
#undef SHOAL_HWY_F16
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || HWY_ARCH_ARM_A64
#define SHOAL_HWY_F16 1
#else
#define SHOAL_HWY_F16 0
#endif

void F16RowToF32(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
#if SHOAL_HWY_F16
  const DF d;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(x + i))), d,
               y + i);
  }
#endif
  for (; i < n; ++i) y[i] = F16ToF32(x[i]);
}

#undef SHOAL_SCORES_ZMM
#undef SHOAL_SCORES_YMM
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define SHOAL_SCORES_ZMM 1
#define SHOAL_SCORES_YMM 0
#elif HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
#define SHOAL_SCORES_ZMM 0
#define SHOAL_SCORES_YMM 1
#else
#define SHOAL_SCORES_ZMM 0
#define SHOAL_SCORES_YMM 0
#endif

// One vector's lanes summed in a fixed tree: lanes i and i + W/2, then i and i + W/4, ..., then 0
// and 1 (W the lane count). On x86 this is the order GCC's _mm512_reduce_add_ps and Highway's
// 256-bit SumOfLanes use, written out so that every compiler gives the same bits and the
// transposed reductions below, which follow the same tree, equal it; elsewhere SumOfLanes.
template <class V>
HWY_INLINE float SumTree(V v) {
#if SHOAL_SCORES_ZMM
  const __m512 z = v.raw;
  const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(z),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1)));
  const __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 w = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(w, _mm_shuffle_ps(w, w, 1)));
#elif SHOAL_SCORES_YMM
  const __m256 t = v.raw;
  const __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 w = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(w, _mm_shuffle_ps(w, w, 1)));
#else
  return hn::GetLane(hn::SumOfLanes(DF(), v));
#endif
}

#if SHOAL_SCORES_ZMM
// The sums of 16 vectors' lanes, in one vector (position p's in lane p), each summed in SumTree's
// order: lanes i and i + 8, then i and i + 4, i and i + 2, then 0 and 1. Every sum is thus
// bit-identical to the per-vector reduction, while 15 shuffle pairs and adds serve all 16 (not 7
// instructions each).
HWY_INLINE hn::Vec<DF> SumLanes(const hn::Vec<DF> a[16]) {
  __m512 t[8], u[4], w[2];
  for (int p = 0; p < 8; ++p) {  // i + 8: [a lanes 0-7 | b lanes 0-7] of positions 2p, 2p + 1
    t[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * p].raw, a[2 * p + 1].raw, 0x44),
                         _mm512_shuffle_f32x4(a[2 * p].raw, a[2 * p + 1].raw, 0xEE));
  }
  for (int r = 0; r < 4; ++r) {  // i + 4: 128-bit lane k holds position 4r + k's 4 partials
    u[r] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * r], t[2 * r + 1], 0x88),
                         _mm512_shuffle_f32x4(t[2 * r], t[2 * r + 1], 0xDD));
  }
  for (int q = 0; q < 2; ++q) {  // i + 2: lane k holds positions 8q + k (0-1), 8q + 4 + k (2-3)
    const __m512d x = _mm512_castps_pd(u[2 * q]), y = _mm512_castps_pd(u[2 * q + 1]);
    w[q] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // 0 + 1: lane 4k + m holds position k + 4m.
  const __m512 z =
      _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return hn::Vec<DF>{_mm512_permutexvar_ps(order, z)};
}
#endif

#if SHOAL_SCORES_YMM
// As the 512-bit SumLanes for 8 vectors of 8 lanes, in SumTree's order: lanes i and i + 4, then i
// and i + 2, then 0 and 1.
HWY_INLINE hn::Vec<DF> SumLanes(const hn::Vec<DF> a[8]) {
  __m256 t[4], w[2];
  for (int p = 0; p < 4; ++p) {  // i + 4: [a lanes 0-3 | b lanes 0-3] of positions 2p, 2p + 1
    t[p] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * p].raw, a[2 * p + 1].raw, 0x20),
                         _mm256_permute2f128_ps(a[2 * p].raw, a[2 * p + 1].raw, 0x31));
  }
  for (int q = 0; q < 2; ++q) {  // i + 2: lane k holds positions 4q + k (0-1), 4q + 2 + k (2-3)
    const __m256d x = _mm256_castps_pd(t[2 * q]), y = _mm256_castps_pd(t[2 * q + 1]);
    w[q] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                         _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
  }
  // 0 + 1: lane 4k + m holds position k + 2m.
  const __m256 z =
      _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x88), _mm256_shuffle_ps(w[0], w[1], 0xDD));
  return hn::Vec<DF>{_mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))};
}
#endif

// s[j] = scale * q . kf[j] for j < n (kf rows of dk floats). per_position: every position's sum
// reduced on its own (the reference for the tests; the wide path gives the same bits).
void Scores(const float* q, const float* kf, int64_t dk, int64_t n, float scale, float* s,
            bool per_position = false) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t dv = dk / N * N;
  int64_t j = 0;
#if SHOAL_SCORES_ZMM || SHOAL_SCORES_YMM
  // A vector's width of positions at once, when the width divides dk (head widths 64, 128, ...).
  if (dv == dk && !per_position) {
    constexpr int64_t W = SHOAL_SCORES_ZMM ? 16 : 8;  // the lanes of DF
    for (; j + W <= n; j += W) {
      const float* k0 = kf + j * dk;
      hn::Vec<DF> acc[W];
      for (auto& a : acc) a = hn::Zero(d);
      for (int64_t x = 0; x < dk; x += W) {
        const auto qv = hn::LoadU(d, q + x);
        for (int64_t p = 0; p < W; ++p)
          acc[p] = hn::MulAdd(qv, hn::LoadU(d, k0 + p * dk + x), acc[p]);
      }
      hn::StoreU(hn::Mul(SumLanes(acc), hn::Set(d, scale)), d, s + j);
    }
  }
#endif
  for (; j + 4 <= n; j += 4) {
    const float* k0 = kf + j * dk;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t x = 0; x < dv; x += N) {
      const auto qv = hn::LoadU(d, q + x);
      a0 = hn::MulAdd(qv, hn::LoadU(d, k0 + x), a0);
      a1 = hn::MulAdd(qv, hn::LoadU(d, k0 + dk + x), a1);
      a2 = hn::MulAdd(qv, hn::LoadU(d, k0 + 2 * dk + x), a2);
      a3 = hn::MulAdd(qv, hn::LoadU(d, k0 + 3 * dk + x), a3);
    }
    float r[4] = {SumTree(a0), SumTree(a1), SumTree(a2), SumTree(a3)};
    for (int64_t x = dv; x < dk; ++x) {
      for (int u = 0; u < 4; ++u) r[u] += q[x] * k0[u * dk + x];
    }
    for (int u = 0; u < 4; ++u) s[j + u] = r[u] * scale;
  }
  for (; j < n; ++j) {
    const float* kr = kf + j * dk;
    auto a0 = hn::Zero(d);
    for (int64_t x = 0; x < dv; x += N)
      a0 = hn::MulAdd(hn::LoadU(d, q + x), hn::LoadU(d, kr + x), a0);
    float r = SumTree(a0);
    for (int64_t x = dv; x < dk; ++x) r += q[x] * kr[x];
    s[j] = r * scale;
  }
}

// The online-softmax update of one row over n scores: s becomes exp(s - m'); returns the
// correction exp(m - m') of the row's previous sums (0 on its first tile).
float SoftmaxStep(float* s, int64_t n, float* m, float* l) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float mt = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  if (n >= N) {
    auto vm = hn::LoadU(d, s);
    for (j = N; j + N <= n; j += N) vm = hn::Max(vm, hn::LoadU(d, s + j));
    mt = hn::GetLane(hn::MaxOfLanes(d, vm));
  }
  for (; j < n; ++j) mt = std::fmax(mt, s[j]);
  const float mn = std::fmax(*m, mt);
  const float corr = std::isinf(*m) ? 0.0f : std::exp(*m - mn);
  const auto vmn = hn::Set(d, mn);
  auto vs = hn::Zero(d);
  for (j = 0; j + N <= n; j += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + j), vmn));
    hn::StoreU(e, d, s + j);
    vs = hn::Add(vs, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vs));
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] - mn);
    sum += s[j];
  }
  *l = *l * corr + sum;
  *m = mn;
  return corr;
}

// o = corr * o + sum_{j < n} p[j] * vf[j] (vf rows of ldv floats, dv used).
void AccumulateValues(const float* p, const float* vf, int64_t ldv, int64_t dv, int64_t n,
                      float corr, float* o) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, corr);
  int64_t x = 0;
  for (; x + 4 * N <= dv; x += 4 * N) {
    auto a0 = hn::Mul(hn::LoadU(d, o + x), vc), a1 = hn::Mul(hn::LoadU(d, o + x + N), vc);
    auto a2 = hn::Mul(hn::LoadU(d, o + x + 2 * N), vc);
    auto a3 = hn::Mul(hn::LoadU(d, o + x + 3 * N), vc);
    for (int64_t j = 0; j < n; ++j) {
      const auto pj = hn::Set(d, p[j]);
      const float* vr = vf + j * ldv + x;
      a0 = hn::MulAdd(pj, hn::LoadU(d, vr), a0);
      a1 = hn::MulAdd(pj, hn::LoadU(d, vr + N), a1);
      a2 = hn::MulAdd(pj, hn::LoadU(d, vr + 2 * N), a2);
      a3 = hn::MulAdd(pj, hn::LoadU(d, vr + 3 * N), a3);
    }
    hn::StoreU(a0, d, o + x);
    hn::StoreU(a1, d, o + x + N);
    hn::StoreU(a2, d, o + x + 2 * N);
    hn::StoreU(a3, d, o + x + 3 * N);
  }
  for (; x + N <= dv; x += N) {
    auto a0 = hn::Mul(hn::LoadU(d, o + x), vc);
    for (int64_t j = 0; j < n; ++j) {
      a0 = hn::MulAdd(hn::Set(d, p[j]), hn::LoadU(d, vf + j * ldv + x), a0);
    }
    hn::StoreU(a0, d, o + x);
  }
  for (; x < dv; ++x) {
    float acc = o[x] * corr;
    for (int64_t j = 0; j < n; ++j) acc += p[j] * vf[j * ldv + x];
    o[x] = acc;
  }
}

void AttentionImpl(const AttentionArgs& a) {
  const int64_t T = AttentionTile(a.dk, a.dv);
  const int64_t dk = a.dk, dv = a.dv;
  // Keys and values share their rows (MLA's latent cache): the values are the keys' first dv.
  const bool shared = a.v == a.k && a.ldv == a.ldk && dv <= dk;
  thread_local std::vector<float> kf, vf, p;
  kf.resize(size_t(T * dk));
  if (!shared) vf.resize(size_t(T * dv));
  p.resize(size_t(kAttentionRows * T));
  const float* vt = shared ? kf.data() : vf.data();
  const int64_t ldvt = shared ? dk : dv;
  float m[kAttentionRows], l[kAttentionRows], corr[kAttentionRows];
  int64_t cnt[kAttentionRows];
  for (int32_t r0 = 0; r0 < a.n_q; r0 += kAttentionRows) {
    const int32_t rows = std::min(kAttentionRows, a.n_q - r0);
    int64_t max_kv = 0;
    for (int32_t i = 0; i < rows; ++i) {
      max_kv = std::max<int64_t>(max_kv, a.n_kv[r0 + i]);
      m[i] = -std::numeric_limits<float>::infinity();
      l[i] = 0.0f;
      std::fill(a.out[r0 + i], a.out[r0 + i] + dv, 0.0f);
    }
    for (int64_t j0 = 0; j0 < max_kv; j0 += T) {
      const int64_t nt = std::min(T, max_kv - j0);
      for (int64_t j = 0; j < nt; ++j) {
        const int64_t pos = j0 + j;
        const size_t slot = a.table == nullptr
                                ? size_t(pos)
                                : size_t(a.table[pos / a.block_tokens]) * size_t(a.block_tokens) +
                                      size_t(pos % a.block_tokens);
        F16RowToF32(a.k + slot * size_t(a.ldk), kf.data() + j * dk, dk);
        if (!shared) F16RowToF32(a.v + slot * size_t(a.ldv), vf.data() + j * dv, dv);
      }
      for (int32_t i = 0; i < rows; ++i) {
        cnt[i] = std::clamp<int64_t>(a.n_kv[r0 + i] - j0, 0, nt);
        if (cnt[i] == 0) continue;
        float* s = p.data() + i * T;
        Scores(a.q[r0 + i], kf.data(), dk, cnt[i], a.scale, s);
        corr[i] = SoftmaxStep(s, cnt[i], &m[i], &l[i]);
      }
      for (int32_t i = 0; i < rows; ++i) {
        if (cnt[i] == 0) continue;
        AccumulateValues(p.data() + i * T, vt, ldvt, dv, cnt[i], corr[i], a.out[r0 + i]);
      }
    }
    const DF d;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    for (int32_t i = 0; i < rows; ++i) {
      if (l[i] <= 0.0f) continue;
      float* o = a.out[r0 + i];
      const auto inv = hn::Set(d, 1.0f / l[i]);
      int64_t x = 0;
      for (; x + N <= dv; x += N) hn::StoreU(hn::Mul(hn::LoadU(d, o + x), inv), d, o + x);
      for (; x < dv; ++x) o[x] *= 1.0f / l[i];
    }
  }
}

void ScoresT(const float* q, const float* kf, int64_t dk, int64_t n, float scale, float* s,
             bool per_position) {
  Scores(q, kf, dk, n, scale, s, per_position);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels {

HWY_EXPORT(AttentionImpl);
HWY_EXPORT(ScoresT);

void Attention(const AttentionArgs& a) { HWY_DYNAMIC_DISPATCH(AttentionImpl)(a); }

namespace internal {
void AttentionScores(const float* q, const float* k, int64_t dk, int64_t n, float scale, float* s,
                     bool per_position) {
  HWY_DYNAMIC_DISPATCH(ScoresT)(q, k, dk, n, scale, s, per_position);
}
}  // namespace internal

}  // namespace shoal::kernels
#endif  // HWY_ONCE
