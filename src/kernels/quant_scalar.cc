// Scalar reference: float16/bfloat16 conversion and the dequantizers and round-to-nearest
// quantizers of every block type. Values are addressed one at a time through the position
// helpers below, which spell out where value i of a block lives (see blocks.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/iquants.h"
#include "kernels/quant.h"

namespace shoal::kernels {

namespace scalar {
namespace {

// --- where value i of a block lives ---
inline int Nib32(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }
inline int Bit(const uint8_t* bits, int i) { return (bits[i / 8] >> (i % 8)) & 1; }
inline int Q2(const uint8_t* qs, int i) {  // q2_K and the low bits of q3_K
  return (qs[(i / 128) * 32 + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}
inline int Q4K(const uint8_t* qs, int i) {
  const uint8_t b = qs[(i / 64) * 32 + i % 32];
  return (i % 64) < 32 ? (b & 0xF) : (b >> 4);
}
inline int Q6K(const BlockQ6_K& b, int i) {
  const int n = i / 128, quarter = (i % 128) / 32, l = i % 32;
  const uint8_t lo = b.ql[n * 64 + l + (quarter & 1) * 32];
  const int low4 = quarter < 2 ? (lo & 0xF) : (lo >> 4);
  const int hi2 = (b.qh[n * 32 + l] >> (2 * quarter)) & 3;
  return (low4 | (hi2 << 4)) - 32;
}
inline int Q3K(const BlockQ3_K& b, int i) {
  return Q2(b.qs, i) - (((b.hmask[i % 32] >> (i / 32)) & 1) ? 0 : 4);
}
inline int Q5K(const BlockQ5_K& b, int i) {
  return Q4K(b.qs, i) + (((b.qh[i % 32] >> (i / 32)) & 1) << 4);
}

template <typename B>
const B* Blocks(const void* p) {
  return static_cast<const B*>(p);
}

}  // namespace

void DequantizeRow(DType t, const void* src, float* y, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(y, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) y[i] = F16ToF32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) y[i] = BF16ToF32(static_cast<const uint16_t*>(src)[i]);
      return;
    default:
      break;
  }
  const int64_t bv = Info(t).block_values;
  for (int64_t ib = 0; ib < n / bv; ++ib, y += bv) {
    switch (t) {
      case DType::kQ4_0: {
        const BlockQ4_0& b = Blocks<BlockQ4_0>(src)[ib];
        for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(Nib32(b.qs, i) - 8) * F16ToF32(b.d);
        break;
      }
      case DType::kQ4_1: {
        const BlockQ4_1& b = Blocks<BlockQ4_1>(src)[ib];
        for (int i = 0; i < 32; ++i) {
          y[i] = static_cast<float>(Nib32(b.qs, i)) * F16ToF32(b.d) + F16ToF32(b.m);
        }
        break;
      }
      case DType::kQ5_0: {
        const BlockQ5_0& b = Blocks<BlockQ5_0>(src)[ib];
        for (int i = 0; i < 32; ++i) {
          y[i] = static_cast<float>((Nib32(b.qs, i) | (Bit(b.qh, i) << 4)) - 16) * F16ToF32(b.d);
        }
        break;
      }
      case DType::kQ5_1: {
        const BlockQ5_1& b = Blocks<BlockQ5_1>(src)[ib];
        for (int i = 0; i < 32; ++i) {
          y[i] = static_cast<float>(Nib32(b.qs, i) | (Bit(b.qh, i) << 4)) * F16ToF32(b.d) +
                 F16ToF32(b.m);
        }
        break;
      }
      case DType::kQ8_0: {
        const BlockQ8_0& b = Blocks<BlockQ8_0>(src)[ib];
        for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(b.qs[i]) * F16ToF32(b.d);
        break;
      }
      case DType::kQ2_K: {
        const BlockQ2_K& b = Blocks<BlockQ2_K>(src)[ib];
        const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
        for (int i = 0; i < 256; ++i) {
          const int s = b.scales[i / 16];
          y[i] = d * static_cast<float>(s & 0xF) * static_cast<float>(Q2(b.qs, i)) -
                 dmin * static_cast<float>(s >> 4);
        }
        break;
      }
      case DType::kQ3_K: {
        const BlockQ3_K& b = Blocks<BlockQ3_K>(src)[ib];
        const float d = F16ToF32(b.d);
        for (int i = 0; i < 256; ++i) {
          y[i] = d * static_cast<float>(ScaleQ3K(b.scales, i / 16)) * static_cast<float>(Q3K(b, i));
        }
        break;
      }
      case DType::kQ4_K: {
        const BlockQ4_K& b = Blocks<BlockQ4_K>(src)[ib];
        const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
        for (int i = 0; i < 256; ++i) {
          int sc, m;
          ScaleMinK4(b.scales, i / 32, &sc, &m);
          y[i] = d * static_cast<float>(sc) * static_cast<float>(Q4K(b.qs, i)) -
                 dmin * static_cast<float>(m);
        }
        break;
      }
      case DType::kQ5_K: {
        const BlockQ5_K& b = Blocks<BlockQ5_K>(src)[ib];
        const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
        for (int i = 0; i < 256; ++i) {
          int sc, m;
          ScaleMinK4(b.scales, i / 32, &sc, &m);
          y[i] = d * static_cast<float>(sc) * static_cast<float>(Q5K(b, i)) -
                 dmin * static_cast<float>(m);
        }
        break;
      }
      case DType::kQ6_K: {
        const BlockQ6_K& b = Blocks<BlockQ6_K>(src)[ib];
        const float d = F16ToF32(b.d);
        for (int i = 0; i < 256; ++i) {
          y[i] = d * static_cast<float>(b.scales[i / 16]) * static_cast<float>(Q6K(b, i));
        }
        break;
      }
      case DType::kQ8_K: {
        const BlockQ8_K& b = Blocks<BlockQ8_K>(src)[ib];
        for (int i = 0; i < 256; ++i) y[i] = b.d * static_cast<float>(b.qs[i]);
        break;
      }
      default:
        if (IsIQuant(t)) {
          DequantizeIQBlock(t, static_cast<const uint8_t*>(src) + ib * Info(t).block_bytes, y);
        } else {
          std::fill(y, y + bv, 0.0f);
        }
        break;
    }
  }
}

}  // namespace scalar
}  // namespace shoal::kernels
