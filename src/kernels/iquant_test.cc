// The i-quants and MXFP4: dequantization and dot products against ggml's own (committed fixtures
// made by scripts/compare/iquant_fixtures.sh: random blocks, every bit pattern of the quants, the
// values ggml's dequantize_row_* gave for them, and ggml's vec_dot with activations ggml
// quantized), the integer block form against dequantization, and the iq4 quantizers against q4_0
// on the same data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/int8_dot.h"
#include "kernels/iquant_grids.h"
#include "kernels/iquants.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ComputeTypes;
using testing::RandomBlocks;
using testing::RandomFloats;

std::string FixturePath(const char* name = "iquants_ggml.bin") {
  const char* src = std::getenv("SHOAL_SOURCE_DIR");
  if (src != nullptr) return std::string(src) + "/src/kernels/testdata/" + name;
  return std::string(SHOAL_KERNELS_TESTDATA) + "/" + name;
}

struct Case {
  DType t;
  std::vector<uint8_t> blocks;
  std::vector<float> values;
};

std::vector<Case> ReadFixture() {
  std::vector<Case> cases;
  FILE* f = std::fopen(FixturePath().c_str(), "rb");
  if (f == nullptr) return cases;
  char magic[4];
  if (std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "SHQF", 4) == 0) {
    uint32_t hdr[2];
    while (std::fread(hdr, 4, 2, f) == 2) {
      const std::optional<DTypeInfo> info = LookupDType(hdr[0]);
      if (!info || hdr[1] % info->block_values != 0 || hdr[1] > (1u << 16)) break;
      Case c{info->type, std::vector<uint8_t>(RowBytes(info->type, hdr[1])),
             std::vector<float>(hdr[1])};
      if (std::fread(c.blocks.data(), 1, c.blocks.size(), f) != c.blocks.size() ||
          std::fread(c.values.data(), 4, c.values.size(), f) != c.values.size()) {
        break;
      }
      cases.push_back(std::move(c));
    }
  }
  std::fclose(f);
  return cases;
}

TEST(IQuant, DequantMatchesGgmlFixture) {
  const std::vector<Case> cases = ReadFixture();
  ASSERT_EQ(cases.size(), 10u) << "fixture " << FixturePath();
  for (const Case& c : cases) {
    const int64_t n = static_cast<int64_t>(c.values.size());
    std::vector<float> got(n);
    scalar::DequantizeRow(c.t, c.blocks.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // Bit-identical (the same float operations), infinities of MXFP4's largest exponents too.
      ASSERT_EQ(std::memcmp(&got[i], &c.values[i], 4), 0)
          << DTypeName(c.t) << " value " << i << ": " << got[i] << " vs ggml " << c.values[i];
    }
    testing::ForEachTarget([&](const std::string& target) {
      std::vector<float> simd(n);
      DequantizeRow(c.t, c.blocks.data(), simd.data(), n);
      ASSERT_EQ(std::memcmp(simd.data(), c.values.data(), 4 * n), 0) << DTypeName(c.t) << target;
    });
  }
}

struct DotCase {
  DType t, at;
  int64_t k, rows, n_tok;
  std::vector<uint8_t> w, xq;
  std::vector<float> y;  // ggml's vec_dot, y[t * rows + r]
};

std::vector<DotCase> ReadDotFixture() {
  std::vector<DotCase> cases;
  FILE* f = std::fopen(FixturePath("iquants_ggml_dot.bin").c_str(), "rb");
  if (f == nullptr) return cases;
  char magic[4];
  if (std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "SHQD", 4) == 0) {
    uint32_t h[5];
    while (std::fread(h, 4, 5, f) == 5) {
      const std::optional<DTypeInfo> wi = LookupDType(h[0]), ai = LookupDType(h[4]);
      if (!wi || !ai || h[1] > 4096 || h[1] % 256 != 0 || h[2] > 16 || h[3] > 16) break;
      DotCase c{wi->type, ai->type, h[1], h[2], h[3], {}, {}, {}};
      c.w.resize(c.rows * RowBytes(c.t, c.k));
      c.xq.resize(c.n_tok * RowBytes(c.at, c.k));
      c.y.resize(c.rows * c.n_tok);
      if (std::fread(c.w.data(), 1, c.w.size(), f) != c.w.size() ||
          std::fread(c.xq.data(), 1, c.xq.size(), f) != c.xq.size() ||
          std::fread(c.y.data(), 4, c.y.size(), f) != c.y.size()) {
        break;
      }
      cases.push_back(std::move(c));
    }
  }
  std::fclose(f);
  return cases;
}

// MatMul (scalar twin and every SIMD target) against ggml's vec_dot on the same weight rows and
// the same activation blocks (quantized by ggml), up to float summation order.
TEST(IQuant, DotMatchesGgmlFixture) {
  const std::vector<DotCase> cases = ReadDotFixture();
  ASSERT_EQ(cases.size(), 10u) << "fixture " << FixturePath("iquants_ggml_dot.bin");
  for (const DotCase& c : cases) {
    ASSERT_EQ(c.at, ActivationType(c.t)) << DTypeName(c.t);
    // sum |w x| per output, for a relative bound
    std::vector<float> wf(c.k), xf(c.k);
    std::vector<double> mag(c.y.size());
    for (int64_t t = 0; t < c.n_tok; ++t) {
      scalar::DequantizeRow(c.at, c.xq.data() + t * RowBytes(c.at, c.k), xf.data(), c.k);
      for (int64_t r = 0; r < c.rows; ++r) {
        scalar::DequantizeRow(c.t, c.w.data() + r * RowBytes(c.t, c.k), wf.data(), c.k);
        for (int64_t i = 0; i < c.k; ++i) mag[t * c.rows + r] += std::fabs(double(wf[i]) * xf[i]);
      }
    }
    std::vector<float> ys(c.y.size());
    scalar::MatMul(c.t, c.w.data(), RowBytes(c.t, c.k), c.k, c.xq.data(), c.n_tok, ys.data(),
                   c.rows, 0, c.rows);
    double worst = 0;
    for (size_t i = 0; i < ys.size(); ++i) {
      ASSERT_NEAR(ys[i], c.y[i], 1e-6 * mag[i]) << DTypeName(c.t) << " scalar " << i;
      worst = std::max(worst, std::fabs(ys[i] - c.y[i]) / mag[i]);
    }
    std::printf("%-8s scalar vs ggml vec_dot: max |diff| / sum|w x| = %.1e\n",
                std::string(DTypeName(c.t)).c_str(), worst);
    testing::ForEachTarget([&](const std::string& target) {
      std::vector<float> y(c.y.size(), -7.0f);
      MatMul(c.t, c.w.data(), RowBytes(c.t, c.k), c.k, c.xq.data(), c.n_tok, y.data(), c.rows, 0,
             c.rows);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], c.y[i], 1e-6 * mag[i]) << DTypeName(c.t) << " " << target << " " << i;
      }
    });
  }
}

// iq4_nl / MXFP4 tiles give bit-identical results with every int8 dot instruction this CPU has
// (int8_dot.h), on every target; the maddubs path runs even where VNNI is the default.
TEST(IQuant, Int8DotPathsBitIdentical) {
  std::vector<Int8Dot> paths = {Int8Dot::kMaddubs};
  for (Int8Dot p : {Int8Dot::kAvxVnni, Int8Dot::kAvx512Vnni}) {
    if (SetInt8Dot(p) == p) paths.push_back(p);
  }
  for (DType t : {DType::kIQ4_NL, DType::kMXFP4}) {
    const int64_t rows = 7, k = 32 * 9, n_tok = 6;
    const std::vector<uint8_t> w = RandomBlocks(t, rows * k, 31);
    const std::vector<float> x = RandomFloats(n_tok * k, 32);
    std::vector<uint8_t> xq(n_tok * ActivationRowBytes(t, k));
    ConvertActivations(t, x.data(), k, k, n_tok, xq.data());
    testing::ForEachTarget([&](const std::string& target) {
      std::vector<float> want;
      for (Int8Dot path : paths) {
        SetInt8Dot(path);
        std::vector<float> y(n_tok * rows, -1.0f);
        MatMul(t, w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, 0, rows);
        if (path == Int8Dot::kMaddubs) {
          want = y;
        } else {
          ASSERT_EQ(y, want) << DTypeName(t) << " " << target << " " << Int8DotName(path);
        }
      }
    });
  }
  SetInt8Dot(BestInt8Dot());
}

// The integer form d * sc[g] * v[i] equals the dequantized value (up to float rounding).
TEST(IQuant, IntegerFormMatchesDequant) {
  for (DType t : ComputeTypes()) {
    if (!IsIQuant(t)) continue;
    const DTypeInfo& info = Info(t);
    const std::vector<uint8_t> w = RandomBlocks(t, 4 * info.block_values, 3);
    for (int ib = 0; ib < 4; ++ib) {
      const uint8_t* p = w.data() + ib * info.block_bytes;
      float y[256];
      DequantizeIQBlock(t, p, y);
      IntBlock u;
      UnpackIQBlock(t, p, &u);
      ASSERT_EQ(u.groups * u.group_len, info.block_values) << DTypeName(t);
      for (int i = 0; i < info.block_values; ++i) {
        const double want = double(u.d) * u.sc[i / u.group_len] * u.v[i];
        ASSERT_NEAR(y[i], want, 1e-6 * std::fabs(want) + 1e-30) << DTypeName(t) << " " << i;
      }
    }
  }
}

// The 8th sign bit keeps the number of minus signs even (the format's ksigns table).
TEST(IQuant, SignsFrom7HaveEvenParity) {
  EXPECT_EQ(SignsFrom7(0), 0);
  EXPECT_EQ(SignsFrom7(1), 129);
  EXPECT_EQ(SignsFrom7(3), 3);
  EXPECT_EQ(SignsFrom7(127), 255);
  for (uint32_t i = 0; i < 128; ++i) {
    EXPECT_EQ(__builtin_popcount(SignsFrom7(i)) % 2, 0);
    EXPECT_EQ(SignsFrom7(i) & 127, i);
  }
}

double RelRms(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(RowBytes(t, n));
  EXPECT_TRUE(QuantizeRow(t, x.data(), q.data(), n));
  std::vector<float> y(n);
  DequantizeRow(t, q.data(), y.data(), n);
  double e2 = 0, x2 = 0;
  for (int64_t i = 0; i < n; ++i) e2 += (y[i] - x[i]) * (y[i] - x[i]), x2 += x[i] * x[i];
  return std::sqrt(e2 / x2);
}

// At the same 4.5 / 4.25 bits per weight, the non-linear codebook beats q4_0's uniform grid on
// Gaussian weights, and stays close with heavy-tailed (Laplacian-like) rows with outliers.
TEST(IQuant, Iq4QuantizersBeatQ4_0) {
  std::vector<float> x = RandomFloats(8192, 17);
  const double q4 = RelRms(DType::kQ4_0, x), nl = RelRms(DType::kIQ4_NL, x),
               xs = RelRms(DType::kIQ4_XS, x);
  std::printf("gaussian rel rms: q4_0 %.4f iq4_nl %.4f iq4_xs %.4f\n", q4, nl, xs);
  EXPECT_LT(nl, 0.9 * q4);
  EXPECT_LT(xs, q4);
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 8;  // outliers
  const double q4o = RelRms(DType::kQ4_0, x), nlo = RelRms(DType::kIQ4_NL, x),
               xso = RelRms(DType::kIQ4_XS, x);
  std::printf("with outliers: q4_0 %.4f iq4_nl %.4f iq4_xs %.4f\n", q4o, nlo, xso);
  EXPECT_LT(nlo, q4o);
  EXPECT_LT(xso, 1.2 * q4o);
}

}  // namespace
}  // namespace shoal::kernels
