// q4_K and q6_K in their x8 layouts (repack_q4k.h, repack_q6k.h): round trip and in-place
// packing, row lookups, the scalar twins against an independent double reference of the
// dequantized values, and every Highway target bit-identical to the scalar twin for any token
// count, row range and row split.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "kernels/amx.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "kernels/repack_q4k.h"
#include "kernels/repack_q6k.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomBlocks;
using testing::RandomFloats;

const DType kTypes[] = {DType::kQ4_K, DType::kQ6_K};

void Twin(DType t, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y, int64_t ldy,
          int64_t r0, int64_t r1) {
  if (t == DType::kQ4_K) {
    internal::MatMulRepackedQ4KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
  } else {
    internal::MatMulRepackedQ6KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
  }
}

struct Case {
  DType t;
  int64_t rows, k, n_tok;
  std::vector<uint8_t> w, wp, xq;
};

Case Make(DType kT, int64_t rows, int64_t k, int64_t n_tok, uint32_t seed) {
  Case c{kT, rows, k, n_tok, RandomBlocks(kT, rows * k, seed), {}, {}};
  c.wp.resize(RepackedBytes(kT, rows, k));
  Repack(kT, c.w.data(), RowBytes(kT, k), rows, k, c.wp.data());
  const std::vector<float> x = RandomFloats(n_tok * k, seed + 1);
  c.xq.resize(n_tok * ActivationRowBytes(kT, k));
  ConvertActivations(kT, x.data(), k, k, n_tok, c.xq.data());
  return c;
}

TEST(RepackKQuant, RoundTripInPlaceAndRowLookup) {
  for (DType kT : kTypes) {
    const Case c = Make(kT, 24, 512, 1, 7);
    EXPECT_EQ(RepackedBytes(kT, 24, 512), c.w.size());
    std::vector<uint8_t> back(c.w.size());
    Unrepack(kT, c.wp.data(), c.rows, c.k, back.data());
    EXPECT_EQ(back, c.w);  // every bit of the random scales survives the rearrangement
    std::vector<uint8_t> w = c.w;
    Repack(kT, w.data(), RowBytes(kT, c.k), c.rows, c.k, w.data());
    EXPECT_EQ(w, c.wp);
    const size_t rb = RowBytes(kT, c.k);
    if (kT == DType::kQ4_K) {
      // group 1, super-block column 1: d of row 3 at byte 6, dmin at 16 + 6; chunk 8j + c holds
      // bytes 32j + 4c .. of each row's qs
      const uint8_t* col = c.wp.data() + 8 * rb + internal::kQ4KColBytes;
      const uint8_t* blk = c.w.data() + 11 * rb + 144;
      EXPECT_EQ(std::memcmp(col + 6, blk, 2), 0);
      EXPECT_EQ(std::memcmp(col + 16 + 6, blk + 2, 2), 0);
      EXPECT_EQ(std::memcmp(col + internal::kQ4KQsAt + 32 * 13 + 4 * 3, blk + 16 + 4 * 13, 4), 0);
    } else {
      // group 1, super-block column 1: d of row 3 at byte 6 (GGUF: the block's last 2 bytes),
      // scale 5 of row 3 at 16 + 8 * 5 + 3
      const uint8_t* col = c.wp.data() + 8 * rb + internal::kQ6KColBytes;
      const uint8_t* blk = c.w.data() + 11 * rb + 210;
      EXPECT_EQ(std::memcmp(col + 6, blk + 208, 2), 0);
      EXPECT_EQ(col[internal::kQ6KScAt + 8 * 5 + 3], blk[192 + 5]);
    }
    std::vector<float> want(c.k), got(c.k);
    for (int64_t r : {0, 6, 9, 23}) {
      DequantizeRow(kT, c.w.data() + r * rb, want.data(), c.k);
      DequantizeRepackedRow(kT, c.wp.data(), c.k, r, got.data());
      EXPECT_EQ(got, want) << DTypeName(kT) << " row " << r;
    }
  }
}

// The scalar twin against sum_i w_i x_i in double from the dequantized weights and activations.
TEST(RepackKQuant, ScalarTwinMatchesDoubleReference) {
  for (DType kT : kTypes) {
    const Case c = Make(kT, 16, 768, 3, 21);
    std::vector<float> y(c.n_tok * c.rows);
    Twin(kT, c.wp.data(), c.k, c.xq.data(), c.n_tok, y.data(), c.rows, 0, c.rows);
    std::vector<float> wf(c.k), xf(c.k);
    const size_t xrb = ActivationRowBytes(kT, c.k);
    for (int64_t t = 0; t < c.n_tok; ++t) {
      DequantizeRow(DType::kQ8_K, c.xq.data() + t * xrb, xf.data(), c.k);
      for (int64_t r = 0; r < c.rows; ++r) {
        DequantizeRow(kT, c.w.data() + r * RowBytes(kT, c.k), wf.data(), c.k);
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < c.k; ++i) {
          ref += double(wf[i]) * xf[i];
          mag += std::fabs(double(wf[i]) * xf[i]);
        }
        EXPECT_NEAR(y[t * c.rows + r], ref, 1e-5 * mag)
            << DTypeName(kT) << " t " << t << " r " << r;
      }
    }
  }
}

// Every target (the AVX3 tiles where the CPU has AVX512-VNNI, the AVX2 tiles on AVX2 and on AVX3
// without it) bit-identical to the scalar twin:
// token counts around the tile width (4), 5 groups (two chunks of 2 and a lone group), a row
// range inside the matrix with ldy > rows, each token alone, and a 2-way row split.
TEST(RepackKQuant, EveryTargetBitIdenticalToScalarTwin) {
  const int64_t rows = 40, k = 512, ldy = 48;
  for (DType kT : kTypes) {
    for (int64_t n_tok : {1, 2, 3, 4, 5, 7, 9, 13, 32}) {
      const Case c = Make(kT, rows, k, n_tok, static_cast<uint32_t>(100 + n_tok));
      std::vector<float> want(n_tok * ldy, 0.0f);
      Twin(kT, c.wp.data(), k, c.xq.data(), n_tok, want.data(), ldy, 0, rows);
      const size_t xrb = ActivationRowBytes(kT, k);
      ForEachTarget([&](const std::string& target) {
        std::vector<float> y(n_tok * ldy, 0.0f), part(n_tok * ldy, 0.0f);
        MatMulRepacked(kT, c.wp.data(), k, c.xq.data(), n_tok, y.data(), ldy, 0, rows);
        MatMulRepacked(kT, c.wp.data(), k, c.xq.data(), n_tok, part.data(), ldy, 8, 24);
        MatMulRepacked(kT, c.wp.data(), k, c.xq.data(), n_tok, part.data(), ldy, 24, rows);
        for (int64_t t = 0; t < n_tok; ++t) {
          std::vector<float> one(ldy, 0.0f);
          MatMulRepacked(kT, c.wp.data(), k, c.xq.data() + t * xrb, 1, one.data(), ldy, 0, rows);
          for (int64_t r = 0; r < ldy; ++r) {
            const float w = want[t * ldy + r];
            ASSERT_EQ(y[t * ldy + r], w)
                << DTypeName(kT) << " " << target << " n_tok " << n_tok << " t " << t << " r " << r;
            ASSERT_EQ(one[r], w) << target << " alone, t " << t << " r " << r;
            ASSERT_EQ(part[t * ldy + r], r < 8 ? 0.0f : w) << target << " split, r " << r;
          }
        }
      });
    }
  }
}

// The AMX tiles (amx.h, q4_K and q6_K) bit-identical to the scalar twin: token counts around the
// tile (16) and its padding, 1 and 3 super-blocks, row ranges that start on an odd group or leave
// one over (which the vector tiles finish).
TEST(RepackKQuant, AmxBitIdenticalToScalarTwin) {
  std::printf("AMX int8 tiles: %s\n", AmxAvailable() ? "under test" : "not available here");
  if (!AmxAvailable()) GTEST_SKIP() << "no AMX int8 tiles on this CPU or OS";
  const int64_t rows = 56;
  for (DType kT : kTypes) {
    for (int64_t k : {256, 768}) {
      for (int64_t n_tok : {kAmxMinTokens, kAmxMinTokens + 1, int64_t{47}, int64_t{64}}) {
        const Case c = Make(kT, rows, k, n_tok, static_cast<uint32_t>(300 + n_tok + k));
        std::vector<float> want(n_tok * rows, -1.0f);
        Twin(kT, c.wp.data(), k, c.xq.data(), n_tok, want.data(), rows, 0, rows);
        for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {8, rows}, {8, 48}}) {
          std::vector<float> y[2];
          for (int amx = 0; amx < 2; ++amx) {
            ASSERT_EQ(SetAmx(amx == 1), amx == 1);
            y[amx].assign(n_tok * rows, -1.0f);
            MatMulRepacked(kT, c.wp.data(), k, c.xq.data(), n_tok, y[amx].data(), rows, r0, r1);
          }
          for (int64_t t = 0; t < n_tok; ++t) {
            for (int64_t r = r0; r < r1; ++r) {
              ASSERT_EQ(y[1][t * rows + r], want[t * rows + r])
                  << DTypeName(kT) << " k " << k << " n_tok " << n_tok << " rows " << r0 << ".."
                  << r1 << " t " << t << " r " << r;
            }
          }
          ASSERT_EQ(y[1], y[0]) << DTypeName(kT) << " k " << k << " n_tok " << n_tok;
        }
      }
    }
  }
  SetAmx(true);
}

// The x8 twins and the plain matmul compute the same dot products (float order differs).
TEST(RepackKQuant, CloseToPlainMatMul) {
  for (DType kT : kTypes) {
    const Case c = Make(kT, 16, 1024, 5, 33);
    std::vector<float> plain(c.n_tok * c.rows), packed(c.n_tok * c.rows);
    scalar::MatMul(kT, c.w.data(), RowBytes(kT, c.k), c.k, c.xq.data(), c.n_tok, plain.data(),
                   c.rows, 0, c.rows);
    scalar::MatMulRepacked(kT, c.wp.data(), c.k, c.xq.data(), c.n_tok, packed.data(), c.rows, 0,
                           c.rows);
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_NEAR(packed[i], plain[i], 1e-4 * (1 + std::fabs(plain[i])))
          << DTypeName(kT) << " " << i;
    }
  }
}

}  // namespace
}  // namespace shoal::kernels
