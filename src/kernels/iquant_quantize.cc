// Quantizers for iq4_nl and iq4_xs: per block of 32 values, three scales that put the value of
// largest magnitude on either end of the non-linear codebook (or near it), nearest codes for
// each, then a least-squares refit of the best one's scale; the lowest squared error wins. iq4_xs
// then shares one f16 scale per 256 values and stores each 32-value scale as a 6-bit multiple of
// it, and re-picks the codes for the scale actually stored.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/iquant_grids.h"
#include "kernels/iquants.h"

namespace shoal::kernels {
namespace {

// For each integer u in [-128, 127]: the largest codebook index whose value is <= u (0 below
// the first value), so the nearest value to any v in [u, u + 1) is that index or the next.
struct FloorTable {
  uint8_t idx[256];
  constexpr FloorTable() : idx() {
    for (int u = -128; u < 128; ++u) {
      int k = 0;
      while (k < 15 && kIQ4NLValues[k + 1] <= u) ++k;
      idx[u + 128] = static_cast<uint8_t>(k);
    }
  }
};
constexpr FloorTable kFloor;

// Index of the codebook value nearest to v (ties to the lower value).
inline int Nearest(float v) {
  const float c = std::clamp(v, -128.0f, 127.0f);
  const int k = kFloor.idx[static_cast<int>(c + 128.0f)];  // truncation = floor for c >= -128
  if (k == 15) return 15;
  return (c - kIQ4NLValues[k] <= kIQ4NLValues[k + 1] - c) ? k : k + 1;
}

// Codes for x[0..32) at scale d (d == 0: the code of value 1, i.e. 0 after scaling); returns
// the squared error.
float Assign(const float* x, float d, uint8_t* codes) {
  float err = 0;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < 32; ++i) {
    codes[i] = static_cast<uint8_t>(d != 0 ? Nearest(x[i] * id) : 8);
    const float e = x[i] - d * kIQ4NLValues[codes[i]];
    err += e * e;
  }
  return err;
}

// The scale with the lowest error for x[0..32); 0 for an all-zero block.
float FitScale(const float* x) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), vmax = x[i];
  }
  if (amax == 0) return 0;
  uint8_t codes[32], best_codes[32];
  float best_d = 0, best_err = INFINITY;
  for (const float end : {-127.0f, -118.0f, 113.0f}) {
    const float d = vmax / end;
    const float err = Assign(x, d, codes);
    if (err < best_err) best_err = err, best_d = d, std::memcpy(best_codes, codes, 32);
  }
  float xy = 0, yy = 0;  // least-squares scale for the best codes
  for (int i = 0; i < 32; ++i) {
    xy += x[i] * kIQ4NLValues[best_codes[i]];
    yy += static_cast<float>(kIQ4NLValues[best_codes[i]] * kIQ4NLValues[best_codes[i]]);
  }
  const float d_ls = xy / yy;
  return Assign(x, d_ls, codes) < best_err ? d_ls : best_d;
}

void PackNibbles(const uint8_t* codes, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
}

}  // namespace

void QuantizeIQ4NL(const float* x, uint8_t* block) {
  BlockIQ4_NL b;
  b.d = F32ToF16(FitScale(x));
  uint8_t codes[32];
  Assign(x, F16ToF32(b.d), codes);
  PackNibbles(codes, b.qs);
  std::memcpy(block, &b, sizeof(b));
}

void QuantizeIQ4XS(const float* x, uint8_t* block) {
  float ds[8], dmax = 0;
  for (int ib = 0; ib < 8; ++ib) {
    ds[ib] = FitScale(x + 32 * ib);
    if (std::fabs(ds[ib]) > std::fabs(dmax)) dmax = ds[ib];
  }
  BlockIQ4_XS b{};
  // The largest sub-block scale becomes -32 times the super-block scale (6-bit range -32..31).
  b.d = F32ToF16(-dmax / 32.0f);
  const float d = F16ToF32(b.d);
  for (int ib = 0; ib < 8; ++ib) {
    const int l = d != 0 ? std::clamp(static_cast<int>(std::lround(ds[ib] / d)), -32, 31) : 0;
    const int ls = l + 32;
    b.scales_l[ib / 2] = static_cast<uint8_t>(b.scales_l[ib / 2] | ((ls & 0xF) << (4 * (ib % 2))));
    b.scales_h = static_cast<uint16_t>(b.scales_h | ((ls >> 4) << (2 * ib)));
    uint8_t codes[32];
    Assign(x + 32 * ib, d * static_cast<float>(l), codes);
    PackNibbles(codes, b.qs + 16 * ib);
  }
  std::memcpy(block, &b, sizeof(b));
}

}  // namespace shoal::kernels
