// The i-quants and MXFP4, scalar: dequantization written from the formats' definitions (the
// same float arithmetic as the definitions, so results are bit-identical to ggml's), and the
// integer form of a block that the dot products use (see iquants.h).
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/iquant_grids.h"
#include "kernels/iquants.h"

namespace shoal::kernels {
namespace {

inline float Sign(uint32_t signs, int j) { return (signs >> j) & 1 ? -1.0f : 1.0f; }
inline int SignI(uint32_t signs, int j) { return (signs >> j) & 1 ? -1 : 1; }
// MXFP4's E8M0 scale, halved (the value table is doubled): 2^(e - 128).
inline float E8M0Half(uint8_t e) { return std::ldexp(1.0f, static_cast<int>(e) - 128); }

// iq1_m's f16 super-block scale, spread over the top nibbles of the four scale words.
float IQ1MScale(const BlockIQ1_M& b, uint16_t sc[4]) {
  std::memcpy(sc, b.scales, 8);
  const uint16_t bits = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) |
                                              ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
  return F16ToF32(bits);
}
// iq1_s / iq1_m: grid index and delta sign of 8-value group q (0..3) of 32-value group ib.
inline int IQ1MIndex(const BlockIQ1_M& b, int ib, int q, bool* neg) {
  const int h = (b.qh[2 * ib + q / 2] >> (4 * (q % 2))) & 0xF;
  *neg = (h & 8) != 0;
  return b.qs[4 * ib + q] | ((h & 7) << 8);
}
inline int IQ4XSScale(const BlockIQ4_XS& b, int ib) {
  return (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4)) -
         32;
}
// Grid index (iq2_s: 10 bits, iq3_s: 9 bits) of 8-value (iq2_s) / 4-value (iq3_s) group.
inline int IQ2SIndex(const BlockIQ2_S& b, int ib, int l) {
  return b.qs[4 * ib + l] | (((b.qh[ib] >> (2 * l)) & 3) << 8);
}
inline int IQ3SIndex(const BlockIQ3_S& b, int ib, int k) {  // k: 0..7, 4 values each
  return b.qs[8 * ib + k] | (((b.qh[ib] >> k) & 1) << 8);
}
inline int Nib(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }

}  // namespace

bool IsIQuant(DType t) {
  switch (t) {
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
      return true;
    default:
      return false;
  }
}

void DequantizeIQBlock(DType t, const uint8_t* p, float* y) {
  switch (t) {
    case DType::kIQ4_NL: {
      const BlockIQ4_NL& b = *reinterpret_cast<const BlockIQ4_NL*>(p);
      const float d = F16ToF32(b.d);
      for (int i = 0; i < 32; ++i) y[i] = d * kIQ4NLValues[Nib(b.qs, i)];
      return;
    }
    case DType::kMXFP4: {
      const BlockMXFP4& b = *reinterpret_cast<const BlockMXFP4*>(p);
      const float d = E8M0Half(b.e);
      for (int i = 0; i < 32; ++i) y[i] = kMXFP4Values[Nib(b.qs, i)] * d;
      return;
    }
    case DType::kIQ4_XS: {
      const BlockIQ4_XS& b = *reinterpret_cast<const BlockIQ4_XS*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const float dl = d * static_cast<float>(IQ4XSScale(b, ib));
        for (int i = 0; i < 32; ++i) y[32 * ib + i] = dl * kIQ4NLValues[Nib(b.qs + 16 * ib, i)];
      }
      return;
    }
    case DType::kIQ2_XXS: {
      const BlockIQ2_XXS& b = *reinterpret_cast<const BlockIQ2_XXS*>(p);
      const float d = F16ToF32(b.d);
      const uint8_t* q = reinterpret_cast<const uint8_t*>(b.qs);
      for (int ib = 0; ib < 8; ++ib, q += 8) {
        const uint32_t w = Load32(q + 4);
        const float db = d * (0.5f + static_cast<float>(w >> 28)) * 0.25f;
        for (int l = 0; l < 4; ++l) {
          const uint64_t g = kIQ2XXSGrid[q[l]];
          const uint8_t s = SignsFrom7(w >> (7 * l));
          for (int j = 0; j < 8; ++j) *y++ = db * static_cast<float>(GridByte(g, j)) * Sign(s, j);
        }
      }
      return;
    }
    case DType::kIQ2_XS: {
      const BlockIQ2_XS& b = *reinterpret_cast<const BlockIQ2_XS*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        for (int l = 0; l < 4; ++l) {
          const int ls = (b.scales[ib] >> (4 * (l / 2))) & 0xF;
          const float db = d * (0.5f + static_cast<float>(ls)) * 0.25f;
          const uint16_t q = b.qs[4 * ib + l];
          const uint64_t g = kIQ2XSGrid[q & 511];
          const uint8_t s = SignsFrom7(q >> 9);
          for (int j = 0; j < 8; ++j) *y++ = db * static_cast<float>(GridByte(g, j)) * Sign(s, j);
        }
      }
      return;
    }
    case DType::kIQ2_S: {
      const BlockIQ2_S& b = *reinterpret_cast<const BlockIQ2_S*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        for (int l = 0; l < 4; ++l) {
          const int ls = (b.scales[ib] >> (4 * (l / 2))) & 0xF;
          const float db = d * (0.5f + static_cast<float>(ls)) * 0.25f;
          const uint64_t g = kIQ2SGrid[IQ2SIndex(b, ib, l)];
          const uint8_t s = b.qs[32 + 4 * ib + l];
          for (int j = 0; j < 8; ++j) *y++ = db * static_cast<float>(GridByte(g, j)) * Sign(s, j);
        }
      }
      return;
    }
    case DType::kIQ3_XXS: {
      const BlockIQ3_XXS& b = *reinterpret_cast<const BlockIQ3_XXS*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const uint32_t w = Load32(b.qs + 64 + 4 * ib);
        const float db = d * (0.5f + static_cast<float>(w >> 28)) * 0.5f;
        for (int l = 0; l < 4; ++l) {
          const uint8_t s = SignsFrom7(w >> (7 * l));
          for (int j = 0; j < 8; ++j) {
            const uint32_t g = kIQ3XXSGrid[b.qs[8 * ib + 2 * l + j / 4]];
            *y++ = db * static_cast<float>(GridByte(g, j % 4)) * Sign(s, j);
          }
        }
      }
      return;
    }
    case DType::kIQ3_S: {
      const BlockIQ3_S& b = *reinterpret_cast<const BlockIQ3_S*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const float db =
            d * static_cast<float>(1 + 2 * ((b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF));
        for (int l = 0; l < 4; ++l) {
          const uint8_t s = b.signs[4 * ib + l];
          for (int j = 0; j < 8; ++j) {
            const uint32_t g = kIQ3SGrid[IQ3SIndex(b, ib, 2 * l + j / 4)];
            *y++ = db * static_cast<float>(GridByte(g, j % 4)) * Sign(s, j);
          }
        }
      }
      return;
    }
    case DType::kIQ1_S: {
      const BlockIQ1_S& b = *reinterpret_cast<const BlockIQ1_S*>(p);
      const float d = F16ToF32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const uint16_t h = b.qh[ib];
        const float dl = d * static_cast<float>(2 * ((h >> 12) & 7) + 1);
        const float delta = (h & 0x8000) ? -0.125f : 0.125f;
        for (int l = 0; l < 4; ++l) {
          const uint64_t g = kIQ1SGrid[b.qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8)];
          for (int j = 0; j < 8; ++j) {
            *y++ = dl * (static_cast<float>(static_cast<int8_t>(GridByte(g, j))) + delta);
          }
        }
      }
      return;
    }
    case DType::kIQ1_M: {
      const BlockIQ1_M& b = *reinterpret_cast<const BlockIQ1_M*>(p);
      uint16_t sc[4];
      const float d = IQ1MScale(b, sc);
      for (int ib = 0; ib < 8; ++ib) {
        for (int q = 0; q < 4; ++q) {
          const int s3 = (sc[ib / 2] >> (6 * (ib % 2) + 3 * (q / 2))) & 7;
          const float dl = d * static_cast<float>(2 * s3 + 1);
          bool neg;
          const uint64_t g = kIQ1SGrid[IQ1MIndex(b, ib, q, &neg)];
          const float delta = neg ? -0.125f : 0.125f;
          for (int j = 0; j < 8; ++j) {
            *y++ = dl * (static_cast<float>(static_cast<int8_t>(GridByte(g, j))) + delta);
          }
        }
      }
      return;
    }
    default:
      return;
  }
}

void UnpackIQBlock(DType t, const uint8_t* p, IntBlock* u) {
  u->groups = 8, u->group_len = 32;
  switch (t) {
    case DType::kIQ4_NL:
    case DType::kMXFP4: {
      const bool nl = t == DType::kIQ4_NL;
      const uint8_t* qs = p + (nl ? 2 : 1);
      for (int i = 0; i < 32; ++i) u->v[i] = (nl ? kIQ4NLValues : kMXFP4Values)[Nib(qs, i)];
      u->groups = 1, u->sc[0] = 1;
      u->d = nl ? F16ToF32(reinterpret_cast<const BlockIQ4_NL*>(p)->d) : E8M0Half(p[0]);
      return;
    }
    case DType::kIQ4_XS: {
      const BlockIQ4_XS& b = *reinterpret_cast<const BlockIQ4_XS*>(p);
      for (int ib = 0; ib < 8; ++ib) {
        u->sc[ib] = IQ4XSScale(b, ib);
        for (int i = 0; i < 32; ++i) u->v[32 * ib + i] = kIQ4NLValues[Nib(b.qs + 16 * ib, i)];
      }
      u->d = F16ToF32(b.d);
      return;
    }
    case DType::kIQ2_XXS: {
      const BlockIQ2_XXS& b = *reinterpret_cast<const BlockIQ2_XXS*>(p);
      const uint8_t* q = reinterpret_cast<const uint8_t*>(b.qs);
      for (int ib = 0; ib < 8; ++ib, q += 8) {
        const uint32_t w = Load32(q + 4);
        u->sc[ib] = 2 * static_cast<int32_t>(w >> 28) + 1;
        for (int l = 0; l < 4; ++l) {
          const uint64_t g = kIQ2XXSGrid[q[l]];
          const uint8_t s = SignsFrom7(w >> (7 * l));
          for (int j = 0; j < 8; ++j)
            u->v[32 * ib + 8 * l + j] = static_cast<int8_t>(GridByte(g, j) * SignI(s, j));
        }
      }
      u->d = F16ToF32(b.d) * 0.125f;
      return;
    }
    case DType::kIQ2_XS:
    case DType::kIQ2_S: {
      const bool xs = t == DType::kIQ2_XS;
      const BlockIQ2_XS& bx = *reinterpret_cast<const BlockIQ2_XS*>(p);
      const BlockIQ2_S& bs = *reinterpret_cast<const BlockIQ2_S*>(p);
      const uint8_t* scales = xs ? bx.scales : bs.scales;
      for (int ib = 0; ib < 8; ++ib) {
        u->sc[2 * ib] = 2 * (scales[ib] & 0xF) + 1;
        u->sc[2 * ib + 1] = 2 * (scales[ib] >> 4) + 1;
        for (int l = 0; l < 4; ++l) {
          const uint16_t q = xs ? bx.qs[4 * ib + l] : 0;
          const uint64_t g = xs ? kIQ2XSGrid[q & 511] : kIQ2SGrid[IQ2SIndex(bs, ib, l)];
          const uint8_t s = xs ? SignsFrom7(q >> 9) : bs.qs[32 + 4 * ib + l];
          for (int j = 0; j < 8; ++j)
            u->v[32 * ib + 8 * l + j] = static_cast<int8_t>(GridByte(g, j) * SignI(s, j));
        }
      }
      u->groups = 16, u->group_len = 16;
      u->d = F16ToF32(xs ? bx.d : bs.d) * 0.125f;
      return;
    }
    case DType::kIQ3_XXS: {
      const BlockIQ3_XXS& b = *reinterpret_cast<const BlockIQ3_XXS*>(p);
      for (int ib = 0; ib < 8; ++ib) {
        const uint32_t w = Load32(b.qs + 64 + 4 * ib);
        u->sc[ib] = 2 * static_cast<int32_t>(w >> 28) + 1;
        for (int l = 0; l < 4; ++l) {
          const uint8_t s = SignsFrom7(w >> (7 * l));
          for (int j = 0; j < 8; ++j) {
            const uint32_t g = kIQ3XXSGrid[b.qs[8 * ib + 2 * l + j / 4]];
            u->v[32 * ib + 8 * l + j] = static_cast<int8_t>(GridByte(g, j % 4) * SignI(s, j));
          }
        }
      }
      u->d = F16ToF32(b.d) * 0.25f;
      return;
    }
    case DType::kIQ3_S: {
      const BlockIQ3_S& b = *reinterpret_cast<const BlockIQ3_S*>(p);
      for (int ib = 0; ib < 8; ++ib) {
        u->sc[ib] = 1 + 2 * ((b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
        for (int l = 0; l < 4; ++l) {
          const uint8_t s = b.signs[4 * ib + l];
          for (int j = 0; j < 8; ++j) {
            const uint32_t g = kIQ3SGrid[IQ3SIndex(b, ib, 2 * l + j / 4)];
            u->v[32 * ib + 8 * l + j] = static_cast<int8_t>(GridByte(g, j % 4) * SignI(s, j));
          }
        }
      }
      u->d = F16ToF32(b.d);
      return;
    }
    case DType::kIQ1_S: {
      const BlockIQ1_S& b = *reinterpret_cast<const BlockIQ1_S*>(p);
      for (int ib = 0; ib < 8; ++ib) {
        const uint16_t h = b.qh[ib];
        u->sc[ib] = 2 * ((h >> 12) & 7) + 1;
        const int delta = (h & 0x8000) ? -1 : 1;
        for (int l = 0; l < 4; ++l) {
          const uint64_t g = kIQ1SGrid[b.qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8)];
          for (int j = 0; j < 8; ++j) {
            u->v[32 * ib + 8 * l + j] =
                static_cast<int8_t>(8 * static_cast<int8_t>(GridByte(g, j)) + delta);
          }
        }
      }
      u->d = F16ToF32(b.d) * 0.125f;
      return;
    }
    case DType::kIQ1_M: {
      const BlockIQ1_M& b = *reinterpret_cast<const BlockIQ1_M*>(p);
      uint16_t sc[4];
      u->d = IQ1MScale(b, sc) * 0.125f;
      for (int ib = 0; ib < 8; ++ib) {
        for (int half = 0; half < 2; ++half) {
          u->sc[2 * ib + half] = 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3 * half)) & 7) + 1;
        }
        for (int q = 0; q < 4; ++q) {
          bool neg;
          const uint64_t g = kIQ1SGrid[IQ1MIndex(b, ib, q, &neg)];
          for (int j = 0; j < 8; ++j) {
            u->v[32 * ib + 8 * q + j] =
                static_cast<int8_t>(8 * static_cast<int8_t>(GridByte(g, j)) + (neg ? -1 : 1));
          }
        }
      }
      u->groups = 16, u->group_len = 16;
      return;
    }
    default:
      return;
  }
}

}  // namespace shoal::kernels
