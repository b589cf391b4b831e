// Activation formats and the scalar reference matmul: integer dot products per block, scaled and
// accumulated in float, the same arithmetic the SIMD kernels do (up to float summation order).
#include <cstring>
#include <limits>

#include "kernels/blocks.h"
#include "kernels/iquants.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace shoal::kernels {

DType ActivationType(DType w) {
  switch (w) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kIQ4_NL:
    case DType::kMXFP4:
      return DType::kQ8_0;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kIQ4_XS:
    case DType::kIQ2_XXS:
    case DType::kIQ2_XS:
    case DType::kIQ2_S:
    case DType::kIQ3_XXS:
    case DType::kIQ3_S:
    case DType::kIQ1_S:
    case DType::kIQ1_M:
      return DType::kQ8_K;
    default:
      return DType::kF32;
  }
}

size_t ActivationRowBytes(DType w, int64_t k) { return RowBytes(ActivationType(w), k); }

namespace scalar {
namespace {

inline int Nib32(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }
inline int Bit(const uint8_t* bits, int i) { return (bits[i / 8] >> (i % 8)) & 1; }
inline int Q2(const uint8_t* qs, int i) {
  return (qs[(i / 128) * 32 + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}
inline int Q4K(const uint8_t* qs, int i) {
  const uint8_t b = qs[(i / 64) * 32 + i % 32];
  return (i % 64) < 32 ? (b & 0xF) : (b >> 4);
}

int SumQ8(const int8_t* a, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += a[i];
  return s;
}

// Dot of one weight row (k values) with one converted activation row.
bool HasMatMul(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return IsIQuant(t);
  }
}

// i-quants: each block in its integer form (iquants.h), dotted group by group.
float RowDotIQ(DType t, const uint8_t* w, int64_t k, const void* xq) {
  const DTypeInfo& info = Info(t);
  IntBlock u;
  float sum = 0;
  for (int64_t ib = 0; ib < k / info.block_values; ++ib) {
    UnpackIQBlock(t, w + ib * info.block_bytes, &u);
    const int8_t* q;
    float dx;
    if (info.block_values == 32) {
      const BlockQ8_0& a = static_cast<const BlockQ8_0*>(xq)[ib];
      q = a.qs, dx = F16ToF32(a.d);
    } else {
      const BlockQ8_K& a = static_cast<const BlockQ8_K*>(xq)[ib];
      q = a.qs, dx = a.d;
    }
    int isum = 0;
    for (int g = 0; g < u.groups; ++g) {
      int s = 0;
      for (int l = 0; l < u.group_len; ++l) s += u.v[g * u.group_len + l] * q[g * u.group_len + l];
      isum += u.sc[g] * s;
    }
    sum += u.d * dx * static_cast<float>(isum);
  }
  return sum;
}

float RowDot(DType t, const void* w, int64_t k, const void* xq) {
  // A type without kernels yields NaN rows rather than reading blocks of an unknown layout
  // (callers check Info(t).computable when loading).
  if (!HasMatMul(t)) return std::numeric_limits<float>::quiet_NaN();
  float sum = 0;
  if (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16) {
    const float* x = static_cast<const float*>(xq);
    for (int64_t i = 0; i < k; ++i) {
      float wi;
      if (t == DType::kF32) {
        wi = static_cast<const float*>(w)[i];
      } else if (t == DType::kF16) {
        wi = F16ToF32(static_cast<const uint16_t*>(w)[i]);
      } else {
        wi = BF16ToF32(static_cast<const uint16_t*>(w)[i]);
      }
      sum += wi * x[i];
    }
    return sum;
  }
  if (IsIQuant(t)) return RowDotIQ(t, static_cast<const uint8_t*>(w), k, xq);
  if (ActivationType(t) == DType::kQ8_0) {
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(xq);
    for (int64_t ib = 0; ib < k / 32; ++ib) {
      const float dx = F16ToF32(a[ib].d);
      const int8_t* q = a[ib].qs;
      int isum = 0;
      switch (t) {
        case DType::kQ4_0: {
          const BlockQ4_0& b = static_cast<const BlockQ4_0*>(w)[ib];
          for (int i = 0; i < 32; ++i) isum += (Nib32(b.qs, i) - 8) * q[i];
          sum += F16ToF32(b.d) * dx * static_cast<float>(isum);
          break;
        }
        case DType::kQ4_1: {
          const BlockQ4_1& b = static_cast<const BlockQ4_1*>(w)[ib];
          for (int i = 0; i < 32; ++i) isum += Nib32(b.qs, i) * q[i];
          sum += F16ToF32(b.d) * dx * static_cast<float>(isum) +
                 F16ToF32(b.m) * dx * static_cast<float>(SumQ8(q, 32));
          break;
        }
        case DType::kQ5_0: {
          const BlockQ5_0& b = static_cast<const BlockQ5_0*>(w)[ib];
          for (int i = 0; i < 32; ++i) isum += ((Nib32(b.qs, i) | (Bit(b.qh, i) << 4)) - 16) * q[i];
          sum += F16ToF32(b.d) * dx * static_cast<float>(isum);
          break;
        }
        case DType::kQ5_1: {
          const BlockQ5_1& b = static_cast<const BlockQ5_1*>(w)[ib];
          for (int i = 0; i < 32; ++i) isum += (Nib32(b.qs, i) | (Bit(b.qh, i) << 4)) * q[i];
          sum += F16ToF32(b.d) * dx * static_cast<float>(isum) +
                 F16ToF32(b.m) * dx * static_cast<float>(SumQ8(q, 32));
          break;
        }
        default: {  // kQ8_0
          const BlockQ8_0& b = static_cast<const BlockQ8_0*>(w)[ib];
          for (int i = 0; i < 32; ++i) isum += b.qs[i] * q[i];
          sum += F16ToF32(b.d) * dx * static_cast<float>(isum);
          break;
        }
      }
    }
    return sum;
  }
  // k-quants against q8_K: per super-block, integer sums over sub-blocks.
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(xq);
  for (int64_t ib = 0; ib < k / 256; ++ib) {
    const int8_t* q = a[ib].qs;
    const int16_t* bs = a[ib].bsums;
    const float dx = a[ib].d;
    switch (t) {
      case DType::kQ2_K: {
        const BlockQ2_K& b = static_cast<const BlockQ2_K*>(w)[ib];
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; ++j) {
          int s = 0;
          for (int l = 0; l < 16; ++l) s += Q2(b.qs, 16 * j + l) * q[16 * j + l];
          isum += (b.scales[j] & 0xF) * s;
          msum += (b.scales[j] >> 4) * bs[j];
        }
        sum += dx * (F16ToF32(b.d) * static_cast<float>(isum) -
                     F16ToF32(b.dmin) * static_cast<float>(msum));
        break;
      }
      case DType::kQ3_K: {
        const BlockQ3_K& b = static_cast<const BlockQ3_K*>(w)[ib];
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
          int s = 0;
          for (int l = 0; l < 16; ++l) {
            const int i = 16 * j + l;
            s += (Q2(b.qs, i) - (((b.hmask[i % 32] >> (i / 32)) & 1) ? 0 : 4)) * q[i];
          }
          isum += ScaleQ3K(b.scales, j) * s;
        }
        sum += dx * F16ToF32(b.d) * static_cast<float>(isum);
        break;
      }
      case DType::kQ4_K:
      case DType::kQ5_K: {
        const bool five = t == DType::kQ5_K;
        const BlockQ4_K* b4 = static_cast<const BlockQ4_K*>(w) + ib;
        const BlockQ5_K* b5 = static_cast<const BlockQ5_K*>(w) + ib;
        const uint8_t* scales = five ? b5->scales : b4->scales;
        const uint8_t* qs = five ? b5->qs : b4->qs;
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
          int sc, m;
          ScaleMinK4(scales, j, &sc, &m);
          int s = 0;
          for (int l = 0; l < 32; ++l) {
            const int i = 32 * j + l;
            int v = Q4K(qs, i);
            if (five) v += ((b5->qh[i % 32] >> (i / 32)) & 1) << 4;
            s += v * q[i];
          }
          isum += sc * s;
          msum += m * (bs[2 * j] + bs[2 * j + 1]);
        }
        const float d = F16ToF32(five ? b5->d : b4->d);
        const float dmin = F16ToF32(five ? b5->dmin : b4->dmin);
        sum += dx * (d * static_cast<float>(isum) - dmin * static_cast<float>(msum));
        break;
      }
      default: {  // kQ6_K
        const BlockQ6_K& b = static_cast<const BlockQ6_K*>(w)[ib];
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
          int s = 0;
          for (int l = 0; l < 16; ++l) {
            const int i = 16 * j + l;
            const int n = i / 128, quarter = (i % 128) / 32, li = i % 32;
            const uint8_t lo = b.ql[n * 64 + li + (quarter & 1) * 32];
            const int low4 = quarter < 2 ? (lo & 0xF) : (lo >> 4);
            const int hi2 = (b.qh[n * 32 + li] >> (2 * quarter)) & 3;
            s += ((low4 | (hi2 << 4)) - 32) * q[i];
          }
          isum += b.scales[j] * s;
        }
        sum += dx * F16ToF32(b.d) * static_cast<float>(isum);
        break;
      }
    }
  }
  return sum;
}

}  // namespace

void ConvertActivations(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq) {
  const DType a = ActivationType(w);
  const size_t row_bytes = RowBytes(a, k);
  for (int64_t t = 0; t < n_tok; ++t) {
    QuantizeRow(a, x + t * ldx, static_cast<uint8_t*>(xq) + t * row_bytes, k);
  }
}

void MatMul(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
            float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const size_t x_row_bytes = ActivationRowBytes(w, k);
  for (int64_t t = 0; t < n_tok; ++t) {
    const uint8_t* xt = static_cast<const uint8_t*>(xq) + t * x_row_bytes;
    for (int64_t r = r0; r < r1; ++r) {
      y[t * ldy + r] = RowDot(w, static_cast<const uint8_t*>(W) + r * w_row_bytes, k, xt);
    }
  }
}

}  // namespace scalar
}  // namespace shoal::kernels
