// Scalar twin of Attention (attention.h): the same tiles, online softmax and row groups as the
// Highway version, in plain loops.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/quant.h"

namespace shoal::kernels {

int32_t AttentionTile(int64_t dk, int64_t dv) {
  const int64_t w = std::max(dk, dv);
  return w <= 64 ? 64 : w <= 128 ? 32 : 16;
}

namespace scalar {
namespace {

size_t Slot(const AttentionArgs& a, int64_t j) {
  return a.table == nullptr ? size_t(j)
                            : size_t(a.table[j / a.block_tokens]) * size_t(a.block_tokens) +
                                  size_t(j % a.block_tokens);
}

}  // namespace

void Attention(const AttentionArgs& a) {
  const int64_t T = AttentionTile(a.dk, a.dv);
  const int64_t dk = a.dk, dv = a.dv;
  std::vector<float> kf(size_t(T * dk)), vf(size_t(T * dv)), p(size_t(kAttentionRows * T));
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
        const uint16_t* kr = a.k + Slot(a, j0 + j) * size_t(a.ldk);
        for (int64_t d = 0; d < dk; ++d) kf[size_t(j * dk + d)] = F16ToF32(kr[d]);
        const uint16_t* vr = a.v + Slot(a, j0 + j) * size_t(a.ldv);
        for (int64_t d = 0; d < dv; ++d) vf[size_t(j * dv + d)] = F16ToF32(vr[d]);
      }
      for (int32_t i = 0; i < rows; ++i) {
        cnt[i] = std::clamp<int64_t>(a.n_kv[r0 + i] - j0, 0, nt);
        if (cnt[i] == 0) continue;
        const float* q = a.q[r0 + i];
        float* s = p.data() + i * T;
        float mt = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < cnt[i]; ++j) {
          float dot = 0.0f;
          for (int64_t d = 0; d < dk; ++d) dot += q[d] * kf[size_t(j * dk + d)];
          s[j] = dot * a.scale;
          mt = std::fmax(mt, s[j]);
        }
        const float mn = std::fmax(m[i], mt);
        corr[i] = std::isinf(m[i]) ? 0.0f : std::exp(m[i] - mn);
        float sum = 0.0f;
        for (int64_t j = 0; j < cnt[i]; ++j) {
          s[j] = std::exp(s[j] - mn);
          sum += s[j];
        }
        l[i] = l[i] * corr[i] + sum;
        m[i] = mn;
      }
      for (int32_t i = 0; i < rows; ++i) {
        if (cnt[i] == 0) continue;
        float* o = a.out[r0 + i];
        const float* s = p.data() + i * T;
        for (int64_t d = 0; d < dv; ++d) {
          float acc = o[d] * corr[i];
          for (int64_t j = 0; j < cnt[i]; ++j) acc += s[j] * vf[size_t(j * dv + d)];
          o[d] = acc;
        }
      }
    }
    for (int32_t i = 0; i < rows; ++i) {
      if (l[i] <= 0.0f) continue;
      const float inv = 1.0f / l[i];
      for (int64_t d = 0; d < dv; ++d) a.out[r0 + i][d] *= inv;
    }
  }
}

}  // namespace scalar
}  // namespace shoal::kernels
