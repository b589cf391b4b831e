// The q4_K x8 layout (repack_q4k.h): packing a column of 8 blocks, the inverse, and the scalar
// twin of the tiles, which follows the arithmetic the header defines operation by operation.
#include "kernels/repack_q4k.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace shoal::kernels::internal {
namespace {

constexpr int kRows = static_cast<int>(kRepackRows);

// GGUF's 12 scale bytes from 8 six-bit scales and 8 six-bit mins (the inverse of ScaleMinK4).
void EncodeScales(const int sc[8], const int m[8], uint8_t s[12]) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

}  // namespace

void PackQ4KColumn(const uint8_t* blk, size_t row_bytes, uint8_t* col) {
  for (int r = 0; r < kRows; ++r) {
    const BlockQ4_K* b = reinterpret_cast<const BlockQ4_K*>(blk + r * row_bytes);
    std::memcpy(col + 2 * r, &b->d, 2);
    std::memcpy(col + 16 + 2 * r, &b->dmin, 2);
    int sc[8], m[8];
    for (int s = 0; s < 8; ++s) ScaleMinK4(b->scales, s, &sc[s], &m[s]);
    for (int j = 0; j < 4; ++j) {
      col[32 + 8 * j + r] = static_cast<uint8_t>((sc[2 * j] & 0xF) | ((sc[2 * j + 1] & 0xF) << 4));
      col[64 + 8 * j + r] = static_cast<uint8_t>((m[2 * j] & 0xF) | ((m[2 * j + 1] & 0xF) << 4));
      col[96 + 8 * j + r] =
          static_cast<uint8_t>((sc[2 * j] >> 4) | ((sc[2 * j + 1] >> 4) << 2) |
                               ((m[2 * j] >> 4) << 4) | ((m[2 * j + 1] >> 4) << 6));
    }
    for (int ch = 0; ch < 32; ++ch) {
      std::memcpy(col + kQ4KQsAt + 32 * ch + 4 * r, b->qs + 4 * ch, 4);
    }
  }
}

void UnpackQ4KColumn(const uint8_t* col, size_t row_bytes, uint8_t* blk) {
  for (int r = 0; r < kRows; ++r) {
    BlockQ4_K* b = reinterpret_cast<BlockQ4_K*>(blk + r * row_bytes);
    std::memcpy(&b->d, col + 2 * r, 2);
    std::memcpy(&b->dmin, col + 16 + 2 * r, 2);
    int sc[8], m[8];
    for (int j = 0; j < 4; ++j) {
      const int ls = col[32 + 8 * j + r], lm = col[64 + 8 * j + r], hb = col[96 + 8 * j + r];
      sc[2 * j] = (ls & 0xF) | ((hb & 3) << 4);
      sc[2 * j + 1] = (ls >> 4) | (((hb >> 2) & 3) << 4);
      m[2 * j] = (lm & 0xF) | (((hb >> 4) & 3) << 4);
      m[2 * j + 1] = (lm >> 4) | ((hb >> 6) << 4);
    }
    EncodeScales(sc, m, b->scales);
    for (int ch = 0; ch < 32; ++ch) {
      std::memcpy(b->qs + 4 * ch, col + kQ4KQsAt + 32 * ch + 4 * r, 4);
    }
  }
}

void MatMulRepackedQ4KScalar(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / 256;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KColBytes;
  const BlockQ8_K* xs = static_cast<const BlockQ8_K*>(xq);
  BlockQ4_K b[kRows];
  std::vector<float> acc(static_cast<size_t>(kRows * n_tok));
  for (int64_t r = r0; r < r1; r += kRows) {
    const uint8_t* g = static_cast<const uint8_t*>(Wp) + (r / kRows) * group_bytes;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t ib = 0; ib < nb; ++ib) {
      UnpackQ4KColumn(g + ib * kQ4KColBytes, sizeof(BlockQ4_K), reinterpret_cast<uint8_t*>(b));
      for (int i = 0; i < kRows; ++i) {
        const float d = F16ToF32(b[i].d), dmin = F16ToF32(b[i].dmin);
        for (int64_t t = 0; t < n_tok; ++t) {
          const BlockQ8_K& x = xs[t * nb + ib];
          float fs = 0.0f;
          int32_t ms = 0;
          for (int s = 0; s < 8; ++s) {
            int sc, m;
            ScaleMinK4(b[i].scales, s, &sc, &m);
            const int j = s / 2, h = s % 2;
            int32_t dot = 0;
            for (int l = 0; l < 32; ++l) {
              dot += ((b[i].qs[32 * j + l] >> (4 * h)) & 0xF) * x.qs[32 * s + l];
            }
            fs = std::fma(static_cast<float>(dot), static_cast<float>(sc), fs);
            ms += m * (x.bsums[2 * s] + x.bsums[2 * s + 1]);
          }
          float& a = acc[t * kRows + i];
          a = std::fma(fs, d * x.d, a);
          a = std::fma(static_cast<float>(ms), dmin * -x.d, a);
        }
      }
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int i = 0; i < kRows; ++i) y[t * ldy + r + i] = acc[t * kRows + i];
    }
  }
}

}  // namespace shoal::kernels::internal
