// Quantizer for iq2_xxs, the 2.06-bit grid i-quant of the "dynamic" DeepSeek and Kimi files.
// Per group of 8 values: signs from the values, the 8th made to give an even number of minus
// signs by flipping the sign of the smallest magnitude (the format stores 7 sign bits); then the
// 8 magnitudes become one of 256 grid entries (levels {8, 25, 43}). The grid entry of a group at
// a scale: each magnitude is rounded to its nearest level, and of the grid entries nearest to
// that lattice point (a table of the 4 nearest made once for all 3^8 points) the one with the
// lowest error for the actual values wins. Per 32 values, several scales are tried, each with a
// least-squares refit; the 4-bit sub-block scales are then stored as multiples of one f16 scale
// per 256 values and the entries are picked again for the scales stored.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/iquant_grids.h"
#include "kernels/iquants.h"

namespace shoal::kernels {
namespace {

constexpr int kLevels[3] = {8, 25, 43};
constexpr int kPoints = 6561;  // 3^8
constexpr int kNear = 4;

// For each lattice point (8 base-3 digits, digit j = the level of value j): the kNear grid entries
// nearest to it, nearest first.
struct Neighbours {
  std::array<std::array<uint8_t, kNear>, kPoints> idx;
  Neighbours() {
    for (int p = 0; p < kPoints; ++p) {
      int v[8];
      for (int j = 0, c = p; j < 8; ++j, c /= 3) v[j] = kLevels[c % 3];
      std::array<std::pair<int, int>, 256> d;
      for (int e = 0; e < 256; ++e) {
        int s = 0;
        for (int j = 0; j < 8; ++j) {
          const int t = GridByte(kIQ2XXSGrid[e], j) - v[j];
          s += t * t;
        }
        d[size_t(e)] = {s, e};
      }
      std::partial_sort(d.begin(), d.begin() + kNear, d.end());
      for (int k = 0; k < kNear; ++k) idx[size_t(p)][size_t(k)] = uint8_t(d[size_t(k)].second);
    }
  }
};

const Neighbours& Near() {
  static const Neighbours n;
  return n;
}

// The level nearest to v (in grid units).
inline int LevelDigit(float v) { return v < 16.5f ? 0 : (v < 34.0f ? 1 : 2); }

// The grid entry for the signed magnitudes t[0..8) at scale s; *err gets its squared error.
uint8_t PickEntry(const float* t, float s, float* err) {
  int p = 0;
  const float is = s > 0 ? 1.0f / s : 0.0f;
  for (int j = 7; j >= 0; --j) p = p * 3 + LevelDigit(t[j] * is);
  uint8_t best = 0;
  float best_err = INFINITY;
  for (const uint8_t e : Near().idx[size_t(p)]) {
    float sum = 0;
    for (int j = 0; j < 8; ++j) {
      const float r = t[j] - s * static_cast<float>(GridByte(kIQ2XXSGrid[e], j));
      sum += r * r;
    }
    if (sum < best_err) best_err = sum, best = e;
  }
  *err = best_err;
  return best;
}

// Entries for the 4 groups of t[0..32) at scale s; returns the squared error.
float PickEntries(const float* t, float s, uint8_t* e) {
  float total = 0;
  for (int g = 0; g < 4; ++g) {
    float err;
    e[g] = PickEntry(t + 8 * g, s, &err);
    total += err;
  }
  return total;
}

// The best scale for t[0..32) (0 when nothing is positive).
float FitScale(const float* t) {
  float tmax = 0;
  for (int i = 0; i < 32; ++i) tmax = std::max(tmax, t[i]);
  if (tmax <= 0) return 0;
  float best_s = 0, best_err = INFINITY;
  uint8_t e[4];
  for (const float top : {43.0f, 40.0f, 37.0f, 34.0f, 31.0f, 28.0f, 25.0f}) {
    float s = tmax / top;
    for (int refit = 0; refit < 2; ++refit) {
      const float err = PickEntries(t, s, e);
      if (err < best_err) best_err = err, best_s = s;
      float tg = 0, gg = 0;  // least squares for these entries
      for (int g = 0; g < 4; ++g) {
        for (int j = 0; j < 8; ++j) {
          const float q = static_cast<float>(GridByte(kIQ2XXSGrid[e[g]], j));
          tg += t[8 * g + j] * q;
          gg += q * q;
        }
      }
      if (tg <= 0) break;
      s = tg / gg;
    }
  }
  return best_s;
}

}  // namespace

void QuantizeIQ2XXS(const float* x, uint8_t* block) {
  float t[256];
  uint32_t sign7[32];  // per group of 8: the 7 stored sign bits
  for (int g = 0; g < 32; ++g) {
    const float* v = x + 8 * g;
    uint32_t bits = 0;
    int smallest = 0;
    for (int j = 0; j < 8; ++j) {
      if (v[j] < 0) bits |= 1u << j;
      if (std::fabs(v[j]) < std::fabs(v[smallest])) smallest = j;
      t[8 * g + j] = std::fabs(v[j]);
    }
    if (__builtin_popcount(bits) & 1) {  // odd: the smallest value takes the other sign
      bits ^= 1u << smallest;
      t[8 * g + smallest] = -t[8 * g + smallest];
    }
    sign7[g] = bits & 127;  // bit 7 follows from the parity (SignsFrom7)
  }
  float s[8], smax = 0;
  for (int ib = 0; ib < 8; ++ib) smax = std::max(smax, s[ib] = FitScale(t + 32 * ib));
  BlockIQ2_XXS b{};
  // db = d * (0.5 + ls) * 0.25 with ls in [0, 15]: the largest sub-block scale is ls = 15.
  b.d = F32ToF16(smax / (15.5f * 0.25f));
  const float d = F16ToF32(b.d);
  uint8_t* q = reinterpret_cast<uint8_t*>(b.qs);
  for (int ib = 0; ib < 8; ++ib, q += 8) {
    const int ls =
        d > 0 ? std::clamp(static_cast<int>(std::lround(s[ib] / (0.25f * d) - 0.5f)), 0, 15) : 0;
    const float db = d * (0.5f + static_cast<float>(ls)) * 0.25f;
    PickEntries(t + 32 * ib, db, q);
    uint32_t w = uint32_t(ls) << 28;
    for (int l = 0; l < 4; ++l) w |= sign7[4 * ib + l] << (7 * l);
    std::memcpy(q + 4, &w, 4);
  }
  std::memcpy(block, &b, sizeof(b));
}

}  // namespace shoal::kernels
