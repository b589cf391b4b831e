// The q6_K x8 layout (repack_q6k.h): packing a column of 8 blocks, the inverse, and the scalar
// twin of the tiles, which follows the arithmetic the header defines operation by operation.
#include "kernels/repack_q6k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace shoal::kernels::internal {
namespace {

constexpr int kRows = static_cast<int>(kRepackRows);

// The 6-bit quant i (0..255) of a GGUF q6_K block, and its inverse.
int GetQ6(const BlockQ6_K& b, int i) {
  const int n = i / 128, quarter = (i % 128) / 32, l = i % 32;
  const uint8_t lo = b.ql[n * 64 + l + (quarter & 1) * 32];
  const int low4 = quarter < 2 ? (lo & 0xF) : (lo >> 4);
  return low4 | (((b.qh[n * 32 + l] >> (2 * quarter)) & 3) << 4);
}
void SetQ6(BlockQ6_K* b, int i, int q) {
  const int n = i / 128, quarter = (i % 128) / 32, l = i % 32;
  uint8_t& lo = b->ql[n * 64 + l + (quarter & 1) * 32];
  lo = quarter < 2 ? static_cast<uint8_t>((lo & 0xF0) | (q & 0xF))
                   : static_cast<uint8_t>((lo & 0x0F) | ((q & 0xF) << 4));
  uint8_t& hi = b->qh[n * 32 + l];
  hi = static_cast<uint8_t>((hi & ~(3 << (2 * quarter))) | ((q >> 4) << (2 * quarter)));
}

}  // namespace

void PackQ6KColumn(const uint8_t* blk, size_t row_bytes, uint8_t* col) {
  std::memset(col + kQ6KHiAt, 0, kQ6KColBytes - kQ6KHiAt);
  for (int r = 0; r < kRows; ++r) {
    const BlockQ6_K& b = *reinterpret_cast<const BlockQ6_K*>(blk + r * row_bytes);
    std::memcpy(col + 2 * r, &b.d, 2);
    for (int g = 0; g < 16; ++g) col[kQ6KScAt + 8 * g + r] = static_cast<uint8_t>(b.scales[g]);
    for (int p = 0; p < 8; ++p) {
      for (int c = 0; c < 4; ++c) {
        for (int m = 0; m < 4; ++m) {
          const int q0 = GetQ6(b, 32 * p + 4 * c + m), q1 = GetQ6(b, 32 * p + 16 + 4 * c + m);
          col[kQ6KLoAt + 32 * (4 * p + c) + 4 * r + m] =
              static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
          col[kQ6KHiAt + 64 * p + 4 * r + m] |= static_cast<uint8_t>((q0 >> 4) << (2 * c));
          col[kQ6KHiAt + 64 * p + 32 + 4 * r + m] |= static_cast<uint8_t>((q1 >> 4) << (2 * c));
        }
      }
    }
  }
}

void UnpackQ6KColumn(const uint8_t* col, size_t row_bytes, uint8_t* blk) {
  for (int r = 0; r < kRows; ++r) {
    BlockQ6_K* b = reinterpret_cast<BlockQ6_K*>(blk + r * row_bytes);
    std::memcpy(&b->d, col + 2 * r, 2);
    for (int g = 0; g < 16; ++g) b->scales[g] = static_cast<int8_t>(col[kQ6KScAt + 8 * g + r]);
    for (int p = 0; p < 8; ++p) {
      for (int c = 0; c < 4; ++c) {
        for (int m = 0; m < 4; ++m) {
          const int lo = col[kQ6KLoAt + 32 * (4 * p + c) + 4 * r + m];
          const int h0 = (col[kQ6KHiAt + 64 * p + 4 * r + m] >> (2 * c)) & 3;
          const int h1 = (col[kQ6KHiAt + 64 * p + 32 + 4 * r + m] >> (2 * c)) & 3;
          SetQ6(b, 32 * p + 4 * c + m, (lo & 0xF) | (h0 << 4));
          SetQ6(b, 32 * p + 16 + 4 * c + m, (lo >> 4) | (h1 << 4));
        }
      }
    }
  }
}

void MatMulRepackedQ6KScalar(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / 256;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ6KColBytes;
  const BlockQ8_K* xs = static_cast<const BlockQ8_K*>(xq);
  BlockQ6_K b[kRows];
  std::vector<float> acc(static_cast<size_t>(kRows * n_tok));
  for (int64_t r = r0; r < r1; r += kRows) {
    const uint8_t* g = static_cast<const uint8_t*>(Wp) + (r / kRows) * group_bytes;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t ib = 0; ib < nb; ++ib) {
      UnpackQ6KColumn(g + ib * kQ6KColBytes, sizeof(BlockQ6_K), reinterpret_cast<uint8_t*>(b));
      for (int i = 0; i < kRows; ++i) {
        const float d = F16ToF32(b[i].d);
        for (int64_t t = 0; t < n_tok; ++t) {
          const BlockQ8_K& x = xs[t * nb + ib];
          float fs = 0.0f;
          for (int sg = 0; sg < 16; ++sg) {
            int32_t dot = -32 * x.bsums[sg];
            for (int l = 0; l < 16; ++l) dot += GetQ6(b[i], 16 * sg + l) * x.qs[16 * sg + l];
            fs = std::fma(static_cast<float>(dot), static_cast<float>(b[i].scales[sg]), fs);
          }
          float& a = acc[t * kRows + i];
          a = std::fma(fs, d * x.d, a);
        }
      }
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int i = 0; i < kRows; ++i) y[t * ldy + r + i] = acc[t * kRows + i];
    }
  }
}

}  // namespace shoal::kernels::internal
