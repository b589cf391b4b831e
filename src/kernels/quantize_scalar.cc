// Scalar round-to-nearest quantizers for every block type (scalar::QuantizeRow). Good enough for
// random-weight test models and for activations; not an importance-weighted quantizer.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/iquants.h"
#include "kernels/quant.h"

namespace shoal::kernels::scalar {
namespace {

inline int Round(float x) { return static_cast<int>(std::lround(x)); }
inline int Clamp(int v, int lo, int hi) { return std::min(hi, std::max(lo, v)); }

// Signed value of largest magnitude in x[0..n).
float SignedAbsMax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  }
  return m;
}

void SetNib32(uint8_t* qs, int i, int q) {
  if (i < 16) {
    qs[i] = static_cast<uint8_t>((qs[i] & 0xF0) | q);
  } else {
    qs[i - 16] = static_cast<uint8_t>((qs[i - 16] & 0x0F) | (q << 4));
  }
}

// Fills qs with q = clamp(round((x + mn) / d), 0, qmax) for an asymmetric sub-block; d and mn
// are the already-quantized scale and (positive) min.
void QuantAsym(const float* x, int n, float d, float mn, int qmax, int* q) {
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = Clamp(Round((x[i] + mn) * id), 0, qmax);
}

void QuantQ4_0(const float* x, BlockQ4_0* b) {
  const float m = SignedAbsMax(x, 32);
  const float d = m / -8.0f;
  b->d = F32ToF16(d);
  const float dq = F16ToF32(b->d);
  const float id = dq != 0 ? 1.0f / dq : 0.0f;
  std::memset(b->qs, 0, sizeof(b->qs));
  for (int i = 0; i < 32; ++i) SetNib32(b->qs, i, Clamp(Round(x[i] * id) + 8, 0, 15));
}

void QuantQ5_0(const float* x, BlockQ5_0* b) {
  const float m = SignedAbsMax(x, 32);
  b->d = F32ToF16(m / -16.0f);
  const float dq = F16ToF32(b->d);
  const float id = dq != 0 ? 1.0f / dq : 0.0f;
  std::memset(b->qs, 0, sizeof(b->qs));
  std::memset(b->qh, 0, sizeof(b->qh));
  for (int i = 0; i < 32; ++i) {
    const int q = Clamp(Round(x[i] * id) + 16, 0, 31);
    SetNib32(b->qs, i, q & 0xF);
    b->qh[i / 8] |= static_cast<uint8_t>((q >> 4) << (i % 8));
  }
}

template <typename B>
void QuantQx_1(const float* x, B* b, int qmax) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  b->d = F32ToF16((hi - lo) / static_cast<float>(qmax));
  b->m = F32ToF16(lo);
  int q[32];
  QuantAsym(x, 32, F16ToF32(b->d), -F16ToF32(b->m), qmax, q);
  std::memset(b->qs, 0, sizeof(b->qs));
  for (int i = 0; i < 32; ++i) SetNib32(b->qs, i, q[i] & 0xF);
  if constexpr (sizeof(B) == sizeof(BlockQ5_1)) {
    std::memset(b->qh, 0, sizeof(b->qh));
    for (int i = 0; i < 32; ++i) b->qh[i / 8] |= static_cast<uint8_t>((q[i] >> 4) << (i % 8));
  }
}

void QuantQ8_0(const float* x, BlockQ8_0* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int i = 0; i < 32; ++i) b->qs[i] = static_cast<int8_t>(Clamp(Round(x[i] * id), -127, 127));
}

void QuantQ8_K(const float* x, BlockQ8_K* b) {
  float amax = 0;
  for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[i]));
  b->d = amax / 127.0f;
  const float id = amax != 0 ? 127.0f / amax : 0.0f;
  for (int i = 0; i < 256; ++i) b->qs[i] = static_cast<int8_t>(Clamp(Round(x[i] * id), -127, 127));
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int i = 0; i < 16; ++i) s += b->qs[j * 16 + i];
    b->bsums[j] = static_cast<int16_t>(s);
  }
}

// Per sub-block of `len` values: scale = (max - min) / qmax with min clipped to <= 0.
void SubBlockScaleMin(const float* x, int len, int qmax, float* scale, float* mn) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < len; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  hi = std::max(hi, lo);
  *scale = (hi - lo) / static_cast<float>(qmax);
  *mn = -lo;  // >= 0
}

void QuantQ2_K(const float* x, BlockQ2_K* b) {
  float sc[16], mn[16], max_sc = 0, max_mn = 0;
  for (int j = 0; j < 16; ++j) {
    SubBlockScaleMin(x + 16 * j, 16, 3, &sc[j], &mn[j]);
    max_sc = std::max(max_sc, sc[j]), max_mn = std::max(max_mn, mn[j]);
  }
  b->d = F32ToF16(max_sc / 15.0f);
  b->dmin = F32ToF16(max_mn / 15.0f);
  const float d = F16ToF32(b->d), dmin = F16ToF32(b->dmin);
  std::memset(b->qs, 0, sizeof(b->qs));
  for (int j = 0; j < 16; ++j) {
    const int isc = d > 0 ? Clamp(Round(sc[j] / d), 0, 15) : 0;
    const int imn = dmin > 0 ? Clamp(Round(mn[j] / dmin), 0, 15) : 0;
    b->scales[j] = static_cast<uint8_t>(isc | (imn << 4));
    int q[16];
    QuantAsym(x + 16 * j, 16, d * static_cast<float>(isc), dmin * static_cast<float>(imn), 3, q);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * j + l;
      b->qs[(i / 128) * 32 + i % 32] |= static_cast<uint8_t>(q[l] << (2 * ((i % 128) / 32)));
    }
  }
}

void QuantQ3_K(const float* x, BlockQ3_K* b) {
  float sc[16], max_sc = 0;
  for (int j = 0; j < 16; ++j) {
    sc[j] = SignedAbsMax(x + 16 * j, 16) / -4.0f;
    if (std::fabs(sc[j]) > std::fabs(max_sc)) max_sc = sc[j];
  }
  b->d = F32ToF16(max_sc / -32.0f);
  const float d = F16ToF32(b->d);
  std::memset(b->scales, 0, sizeof(b->scales));
  std::memset(b->qs, 0, sizeof(b->qs));
  std::memset(b->hmask, 0, sizeof(b->hmask));
  for (int j = 0; j < 16; ++j) {
    const int isc = d != 0 ? Clamp(Round(sc[j] / d), -32, 31) : 0;
    const int u = isc + 32;
    b->scales[j % 8] |= static_cast<uint8_t>((u & 0xF) << (4 * (j / 8)));
    b->scales[8 + j % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
    const float dl = d * static_cast<float>(isc);
    const float id = dl != 0 ? 1.0f / dl : 0.0f;
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * j + l;
      const int q = Clamp(Round(x[i] * id), -4, 3) + 4;
      b->qs[(i / 128) * 32 + i % 32] |= static_cast<uint8_t>((q & 3) << (2 * ((i % 128) / 32)));
      b->hmask[i % 32] |= static_cast<uint8_t>((q >> 2) << (i / 32));
    }
  }
}

// 6-bit scales and mins of q4_K / q5_K (inverse of ScaleMinK4).
void PackScaleMinK4(const int* sc, const int* m, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

// Shared by q4_K (qmax 15) and q5_K (qmax 31): fills d, dmin, scales and the quants q[256].
template <typename B>
void QuantK4Scales(const float* x, B* b, int qmax, int* q) {
  float sc[8], mn[8], max_sc = 0, max_mn = 0;
  for (int j = 0; j < 8; ++j) {
    SubBlockScaleMin(x + 32 * j, 32, qmax, &sc[j], &mn[j]);
    max_sc = std::max(max_sc, sc[j]), max_mn = std::max(max_mn, mn[j]);
  }
  b->d = F32ToF16(max_sc / 63.0f);
  b->dmin = F32ToF16(max_mn / 63.0f);
  const float d = F16ToF32(b->d), dmin = F16ToF32(b->dmin);
  int isc[8], imn[8];
  for (int j = 0; j < 8; ++j) {
    isc[j] = d > 0 ? Clamp(Round(sc[j] / d), 0, 63) : 0;
    imn[j] = dmin > 0 ? Clamp(Round(mn[j] / dmin), 0, 63) : 0;
    QuantAsym(x + 32 * j, 32, d * static_cast<float>(isc[j]), dmin * static_cast<float>(imn[j]),
              qmax, q + 32 * j);
  }
  PackScaleMinK4(isc, imn, b->scales);
}

void QuantQ4_K(const float* x, BlockQ4_K* b) {
  int q[256];
  QuantK4Scales(x, b, 15, q);
  std::memset(b->qs, 0, sizeof(b->qs));
  for (int i = 0; i < 256; ++i) {
    b->qs[(i / 64) * 32 + i % 32] |= static_cast<uint8_t>(q[i] << ((i % 64) < 32 ? 0 : 4));
  }
}

void QuantQ5_K(const float* x, BlockQ5_K* b) {
  int q[256];
  QuantK4Scales(x, b, 31, q);
  std::memset(b->qs, 0, sizeof(b->qs));
  std::memset(b->qh, 0, sizeof(b->qh));
  for (int i = 0; i < 256; ++i) {
    b->qs[(i / 64) * 32 + i % 32] |= static_cast<uint8_t>((q[i] & 0xF) << ((i % 64) < 32 ? 0 : 4));
    b->qh[i % 32] |= static_cast<uint8_t>((q[i] >> 4) << (i / 32));
  }
}

void QuantQ6_K(const float* x, BlockQ6_K* b) {
  float sc[16], max_sc = 0;
  for (int j = 0; j < 16; ++j) {
    sc[j] = SignedAbsMax(x + 16 * j, 16) / -32.0f;
    if (std::fabs(sc[j]) > std::fabs(max_sc)) max_sc = sc[j];
  }
  b->d = F32ToF16(max_sc / -127.0f);
  const float d = F16ToF32(b->d);
  std::memset(b->ql, 0, sizeof(b->ql));
  std::memset(b->qh, 0, sizeof(b->qh));
  for (int j = 0; j < 16; ++j) {
    const int isc = d != 0 ? Clamp(Round(sc[j] / d), -128, 127) : 0;
    b->scales[j] = static_cast<int8_t>(isc);
    const float dl = d * static_cast<float>(isc);
    const float id = dl != 0 ? 1.0f / dl : 0.0f;
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * j + l;
      const int q = Clamp(Round(x[i] * id), -32, 31) + 32;
      const int n = i / 128, quarter = (i % 128) / 32, li = i % 32;
      b->ql[n * 64 + li + (quarter & 1) * 32] |=
          static_cast<uint8_t>((q & 0xF) << (quarter < 2 ? 0 : 4));
      b->qh[n * 32 + li] |= static_cast<uint8_t>((q >> 4) << (2 * quarter));
    }
  }
}

template <typename B, typename F>
void EachBlock(const float* x, void* dst, int64_t n, int bv, F f) {
  B* b = static_cast<B*>(dst);
  for (int64_t i = 0; i < n / bv; ++i) f(x + i * bv, b + i);
}

}  // namespace

bool QuantizeRow(DType t, const float* x, void* dst, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, x, static_cast<size_t>(n) * 4);
      return true;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = F32ToF16(x[i]);
      return true;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = F32ToBF16(x[i]);
      return true;
    case DType::kQ4_0:
      EachBlock<BlockQ4_0>(x, dst, n, 32, QuantQ4_0);
      return true;
    case DType::kQ4_1:
      EachBlock<BlockQ4_1>(x, dst, n, 32,
                           [](const float* v, BlockQ4_1* b) { QuantQx_1(v, b, 15); });
      return true;
    case DType::kQ5_0:
      EachBlock<BlockQ5_0>(x, dst, n, 32, QuantQ5_0);
      return true;
    case DType::kQ5_1:
      EachBlock<BlockQ5_1>(x, dst, n, 32,
                           [](const float* v, BlockQ5_1* b) { QuantQx_1(v, b, 31); });
      return true;
    case DType::kQ8_0:
      EachBlock<BlockQ8_0>(x, dst, n, 32, QuantQ8_0);
      return true;
    case DType::kQ2_K:
      EachBlock<BlockQ2_K>(x, dst, n, 256, QuantQ2_K);
      return true;
    case DType::kQ3_K:
      EachBlock<BlockQ3_K>(x, dst, n, 256, QuantQ3_K);
      return true;
    case DType::kQ4_K:
      EachBlock<BlockQ4_K>(x, dst, n, 256, QuantQ4_K);
      return true;
    case DType::kQ5_K:
      EachBlock<BlockQ5_K>(x, dst, n, 256, QuantQ5_K);
      return true;
    case DType::kQ6_K:
      EachBlock<BlockQ6_K>(x, dst, n, 256, QuantQ6_K);
      return true;
    case DType::kQ8_K:
      EachBlock<BlockQ8_K>(x, dst, n, 256, QuantQ8_K);
      return true;
    case DType::kIQ4_NL:
      for (int64_t i = 0; i < n / 32; ++i) {
        QuantizeIQ4NL(x + 32 * i, static_cast<uint8_t*>(dst) + i * sizeof(BlockIQ4_NL));
      }
      return true;
    case DType::kIQ4_XS:
      for (int64_t i = 0; i < n / 256; ++i) {
        QuantizeIQ4XS(x + 256 * i, static_cast<uint8_t*>(dst) + i * sizeof(BlockIQ4_XS));
      }
      return true;
    case DType::kIQ2_XXS:
      for (int64_t i = 0; i < n / 256; ++i) {
        QuantizeIQ2XXS(x + 256 * i, static_cast<uint8_t*>(dst) + i * sizeof(BlockIQ2_XXS));
      }
      return true;
    default:
      return false;
  }
}

}  // namespace shoal::kernels::scalar
