// Repacked q4_0 / q8_0 matmul: layout round trip, the scalar twin against the plain scalar MatMul,
// SIMD on every target against the scalar twin, row ranges, and bit-identical results whatever
// the token batch or the row split.
#include "kernels/repack.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>

#include "kernels/amx.h"
#include "kernels/int8_dot.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomBlocks;
using testing::RandomFloats;

struct Packed {
  DType t;
  int64_t rows, k, n_tok;
  std::vector<uint8_t> w, wp, xq;
  std::vector<float> x;
};

Packed Make(DType t, int64_t rows, int64_t k, int64_t n_tok, uint32_t seed) {
  Packed p{t,
           rows,
           k,
           n_tok,
           RandomBlocks(t, rows * k, seed),
           {},
           {},
           RandomFloats(n_tok * k, seed + 1)};
  p.wp.resize(RepackedBytes(t, rows, k));
  Repack(t, p.w.data(), RowBytes(t, k), rows, k, p.wp.data());
  p.xq.resize(n_tok * ActivationRowBytes(t, k));
  ConvertActivations(t, p.x.data(), k, k, n_tok, p.xq.data());
  return p;
}

// sum |w x| per output, for relative bounds
std::vector<double> Magnitudes(const Packed& p) {
  std::vector<float> wf(p.k), xf(p.k);
  std::vector<double> mag(p.n_tok * p.rows);
  const size_t xrb = ActivationRowBytes(p.t, p.k), wrb = RowBytes(p.t, p.k);
  for (int64_t t = 0; t < p.n_tok; ++t) {
    DequantizeRow(DType::kQ8_0, p.xq.data() + t * xrb, xf.data(), p.k);
    for (int64_t r = 0; r < p.rows; ++r) {
      DequantizeRow(p.t, p.w.data() + r * wrb, wf.data(), p.k);
      double m = 0;
      for (int64_t i = 0; i < p.k; ++i) m += std::fabs(double(wf[i]) * xf[i]);
      mag[t * p.rows + r] = m;
    }
  }
  return mag;
}

TEST(Repack, Eligibility) {
  EXPECT_TRUE(CanRepack(DType::kQ4_0, 16, 64));
  EXPECT_TRUE(CanRepack(DType::kQ8_0, 8, 32));
  EXPECT_FALSE(CanRepack(DType::kQ4_0, 12, 64));
  // q4_K / q6_K: only where their x8 tiles run (x86 with AVX2: the AVX2 tiles, or the AVX-512
  // ones with AVX512-VNNI)
  const bool kquant_tiles = HWY_ARCH_X86 && (hwy::SupportedTargets() & HWY_AVX2) != 0;
  EXPECT_EQ(CanRepack(DType::kQ4_K, 16, 256), kquant_tiles);
  EXPECT_EQ(CanRepack(DType::kQ6_K, 16, 512), kquant_tiles);
  EXPECT_FALSE(CanRepack(DType::kQ4_K, 16, 128));
  EXPECT_FALSE(CanRepack(DType::kQ5_K, 16, 256));
  EXPECT_FALSE(CanRepack(DType::kF16, 16, 64));
  EXPECT_EQ(RepackedBytes(DType::kQ4_0, 16, 64), 16u * 36u);
}

TEST(Repack, RoundTripAndLayout) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    const Packed p = Make(t, 16, 96, 1, 3);
    std::vector<uint8_t> back(p.w.size());
    Unrepack(t, p.wp.data(), p.rows, p.k, back.data());
    EXPECT_EQ(back, p.w) << DTypeName(t);
    // group 1, block column 2: scale of row 3, then byte 4c + m of row r in chunk c
    const size_t bb = t == DType::kQ4_0 ? 18 : 34, rb = RowBytes(t, p.k);
    const uint8_t* col = p.wp.data() + 8 * rb + 2 * 8 * bb;
    const uint8_t* blk3 = p.w.data() + 11 * rb + 2 * bb;
    EXPECT_EQ(std::memcmp(col + 6, blk3, 2), 0);
    EXPECT_EQ(col[16 + 32 * 1 + 4 * 3 + 2], blk3[2 + 4 * 1 + 2]);
  }
}

TEST(Repack, InPlaceAndRowLookup) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    const Packed p = Make(t, 24, 160, 1, 11);
    std::vector<uint8_t> w = p.w;
    Repack(t, w.data(), RowBytes(t, p.k), p.rows, p.k, w.data());
    EXPECT_EQ(w, p.wp) << DTypeName(t);
    std::vector<float> want(p.k), got(p.k);
    for (int64_t r : {0, 5, 8, 23}) {
      DequantizeRow(t, p.w.data() + r * RowBytes(t, p.k), want.data(), p.k);
      DequantizeRepackedRow(t, p.wp.data(), p.k, r, got.data());
      EXPECT_EQ(got, want) << DTypeName(t) << " row " << r;
    }
  }
}

TEST(Repack, MatchesPlainMatMul) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t blocks : {int64_t{1}, int64_t{3}, int64_t{8}}) {
      for (int64_t n_tok : {1, 2, 3, 4, 5, 9}) {
        const int64_t rows = 24, k = 32 * blocks;
        const Packed p = Make(t, rows, k, n_tok, static_cast<uint32_t>(blocks * 10 + n_tok));
        const std::vector<double> mag = Magnitudes(p);
        std::vector<float> want(n_tok * rows), ys(n_tok * rows);
        scalar::MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, want.data(), rows, 0,
                       rows);
        scalar::MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, ys.data(), rows, 0, rows);
        ASSERT_EQ(std::memcmp(ys.data(), want.data(), ys.size() * sizeof(float)), 0)
            << DTypeName(t) << " scalar twin";
        ForEachTarget([&](const std::string& target) {
          std::vector<float> y(n_tok * rows, -7.0f);
          MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, y.data(), rows, 0, rows);
          for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_NEAR(y[i], want[i], 2e-6 * mag[i] + 1e-30)
                << DTypeName(t) << " " << target << " k=" << k << " n_tok=" << n_tok << " i=" << i;
          }
        });
      }
    }
  }
}

// A row range of whole groups writes exactly those rows, with stride ldy; every token's result is
// bit-identical to that token multiplied alone, and to the rows computed in another split.
TEST(Repack, RowRangeBatchAndSplitInvariance) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    const int64_t rows = 32, k = 256, n_tok = 7, ldy = 40, r0 = 8, r1 = 24;
    const Packed p = Make(t, rows, k, n_tok, 5);
    const size_t xrb = ActivationRowBytes(t, k);
    ForEachTarget([&](const std::string& target) {
      std::vector<float> y(n_tok * ldy, 0.0f), whole(n_tok * ldy, 0.0f);
      MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, y.data(), ldy, r0, r1);
      MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, whole.data(), ldy, 0, rows);
      for (int64_t tok = 0; tok < n_tok; ++tok) {
        std::vector<float> one(ldy, 0.0f);
        MatMulRepacked(t, p.wp.data(), k, p.xq.data() + tok * xrb, 1, one.data(), ldy, r0, r1);
        for (int64_t r = 0; r < ldy; ++r) {
          const float g = y[tok * ldy + r];
          if (r < r0 || r >= r1) {
            ASSERT_EQ(g, 0.0f) << DTypeName(t) << " " << target << " wrote outside the range";
          } else {
            ASSERT_EQ(g, one[r]) << DTypeName(t) << " " << target << " batch vs alone";
            ASSERT_EQ(g, whole[tok * ldy + r]) << DTypeName(t) << " " << target << " split";
          }
        }
      }
    });
  }
}

// Plain MatMul runs whole groups of 8 rows from any first row through the same x8 kernels
// (interleaving on the fly), so on AVX2 it gives bit-identical results to MatMulRepacked, decode
// included; the leftover rows stay close.
TEST(Repack, PlainMatMulBitIdenticalToRepacked) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t n_tok : {1, 2, 3, 4, 5, 7, 64}) {
      const int64_t rows = 40, k = 32 * 7;
      const Packed p = Make(t, rows, k, n_tok, static_cast<uint32_t>(50 + n_tok));
      ForEachTarget([&](const std::string& target) {
        std::vector<float> plain(n_tok * rows, -1.0f), packed(n_tok * rows, -2.0f);
        MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, plain.data(), rows, 0, rows);
        MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, packed.data(), rows, 0, rows);
        for (int64_t i = 0; i < n_tok * rows; ++i) {
          if (target == "AVX2" || target == "AVX3") {
            ASSERT_EQ(plain[i], packed[i]) << DTypeName(t) << " " << target << " i=" << i;
          } else {
            ASSERT_NEAR(plain[i], packed[i], 1e-4 * (1 + std::fabs(packed[i])));
          }
        }
        // a range starting inside a group: whole groups of 8 from row 3, then rows 35..38
        std::vector<float> part(n_tok * rows, 0.0f);
        MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, part.data(), rows, 3, 39);
        for (int64_t tok = 0; tok < n_tok; ++tok) {
          for (int64_t r = 0; r < rows; ++r) {
            const float g = part[tok * rows + r], w = packed[tok * rows + r];
            if (r < 3 || r >= 39) {
              ASSERT_EQ(g, 0.0f) << DTypeName(t) << " " << target << " wrote outside";
            } else {
              ASSERT_NEAR(g, w, 1e-4 * (1 + std::fabs(w))) << DTypeName(t) << " " << target;
            }
          }
        }
      });
    }
  }
}

// The batch tiles (n_tok > 1: balanced token tiles up to 6 wide on AVX3, prefetch of the next
// rows) against the tiles they replaced (SetSmallBatchTiles(false)) and the scalar twin, for
// the serving batch sizes, packed and plain rows, on every target: bit-identical to the old
// tiles and to each token multiplied alone, within the twin tolerance of the scalar twin. 40
// rows: two chunks of 2 groups and a single group left over; 13 tokens: tiles of 5, 4, 4.
TEST(Repack, BatchTilesBitIdenticalToLegacyTiles) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t n_tok : {2, 3, 5, 6, 7, 8, 12, 13, 16, 32}) {
      const int64_t rows = 40, k = 32 * 5;
      const Packed p = Make(t, rows, k, n_tok, static_cast<uint32_t>(90 + n_tok));
      const std::vector<double> mag = Magnitudes(p);
      std::vector<float> want(n_tok * rows);
      scalar::MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, want.data(), rows, 0, rows);
      const size_t xrb = ActivationRowBytes(t, k);
      ForEachTarget([&](const std::string& target) {
        std::vector<float> out[2][2];  // [legacy, batch][packed, plain]
        for (int batch = 0; batch < 2; ++batch) {
          SetSmallBatchTiles(batch == 1);
          out[batch][0].assign(n_tok * rows, -2.0f);
          out[batch][1].assign(n_tok * rows, -1.0f);
          MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, out[batch][0].data(), rows, 0,
                         rows);
          MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, out[batch][1].data(), rows,
                 0, rows);
        }
        SetSmallBatchTiles(true);
        const std::string what =
            std::string(DTypeName(t)) + " " + target + " n_tok=" + std::to_string(n_tok);
        ASSERT_EQ(out[1][0], out[0][0]) << what << " packed";
        ASSERT_EQ(out[1][1], out[0][1]) << what << " plain";
        for (int64_t tok = 0; tok < n_tok; ++tok) {
          std::vector<float> one(rows, 0.0f);
          MatMulRepacked(t, p.wp.data(), k, p.xq.data() + tok * xrb, 1, one.data(), rows, 0, rows);
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = tok * rows + r;
            ASSERT_EQ(out[1][0][i], one[r]) << what << " batch vs alone, token " << tok;
            ASSERT_NEAR(out[1][0][i], want[i], 2e-6 * mag[i] + 1e-30) << what << " i=" << i;
          }
        }
      });
    }
  }
}

// The vpdpbusd paths (AVX-VNNI, AVX512-VNNI; int8_dot.h) give bit-identical results to the
// maddubs path on every target, prefill and decode tiles, packed and plain rows.
TEST(Repack, Int8DotPathsBitIdentical) {
  std::vector<Int8Dot> paths = {Int8Dot::kMaddubs};
  for (Int8Dot p : {Int8Dot::kAvxVnni, Int8Dot::kAvx512Vnni}) {
    if (SetInt8Dot(p) == p) paths.push_back(p);
  }
  std::string names;
  for (Int8Dot p : paths) names += std::string(Int8DotName(p)) + " ";
  std::printf("int8 dot paths under test: %s(best: %s)\n", names.c_str(),
              Int8DotName(BestInt8Dot()));
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t n_tok : {1, 3, 4, 9}) {
      const int64_t rows = 24, k = 32 * 9;
      const Packed p = Make(t, rows, k, n_tok, static_cast<uint32_t>(70 + n_tok));
      ForEachTarget([&](const std::string& target) {
        std::vector<float> want_packed, want_plain;
        for (Int8Dot path : paths) {
          SetInt8Dot(path);
          std::vector<float> packed(n_tok * rows, -2.0f), plain(n_tok * rows, -1.0f);
          MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, packed.data(), rows, 0, rows);
          MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, plain.data(), rows, 0, rows);
          if (path == Int8Dot::kMaddubs) {
            want_packed = packed, want_plain = plain;
            continue;
          }
          ASSERT_EQ(packed, want_packed)
              << DTypeName(t) << " " << target << " " << Int8DotName(path) << " n_tok=" << n_tok;
          ASSERT_EQ(plain, want_plain)
              << DTypeName(t) << " " << target << " " << Int8DotName(path) << " n_tok=" << n_tok;
        }
      });
    }
  }
  SetInt8Dot(BestInt8Dot());
}

// The AMX tiles (amx.h; where the CPU and OS have them) against the vector tiles: bit-identical
// for token counts around the tile (16) and its padding, odd and even block counts, and row
// ranges that start on an odd group or leave one over (which the vector tiles finish). Also each
// token alone (decode, never AMX) equals its row of the batch.
TEST(Repack, AmxBitIdenticalToVectorTiles) {
  std::printf("AMX int8 tiles: %s\n", AmxAvailable() ? "under test" : "not available here");
  if (!AmxAvailable()) GTEST_SKIP() << "no AMX int8 tiles on this CPU or OS";
  for (DType t : {DType::kQ4_0, DType::kQ8_0}) {
    for (int64_t nb : {8, 9}) {
      for (int64_t n_tok :
           {kAmxMinTokens, kAmxMinTokens + 1, int64_t{47}, int64_t{64}, int64_t{100}}) {
        const int64_t rows = 56, k = 32 * nb;
        const Packed p = Make(t, rows, k, n_tok, static_cast<uint32_t>(7 * n_tok + nb));
        const size_t xrb = ActivationRowBytes(t, k);
        for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {8, rows}, {8, 48}}) {
          std::vector<float> out[2];
          for (int amx = 0; amx < 2; ++amx) {
            ASSERT_EQ(SetAmx(amx == 1), amx == 1);
            out[amx].assign(n_tok * rows, -1.0f);
            MatMulRepacked(t, p.wp.data(), k, p.xq.data(), n_tok, out[amx].data(), rows, r0, r1);
          }
          const std::string what = std::string(DTypeName(t)) + " nb=" + std::to_string(nb) +
                                   " n_tok=" + std::to_string(n_tok) + " rows " +
                                   std::to_string(r0) + ".." + std::to_string(r1);
          ASSERT_EQ(out[1], out[0]) << what;
          for (int64_t tok : {int64_t{0}, n_tok / 2, n_tok - 1}) {
            std::vector<float> one(rows, 0.0f);
            MatMulRepacked(t, p.wp.data(), k, p.xq.data() + tok * xrb, 1, one.data(), rows, r0, r1);
            for (int64_t r = r0; r < r1; ++r) {
              ASSERT_EQ(out[1][tok * rows + r], one[r]) << what << " token " << tok;
            }
          }
        }
      }
    }
  }
  SetAmx(true);
}

}  // namespace
}  // namespace shoal::kernels
