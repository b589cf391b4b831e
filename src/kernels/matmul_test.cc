// MatMul: SIMD against the scalar twin on every target, and both against a double-precision dot
// of the dequantized weights and the dequantized activations; odd shapes and row ranges.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomBlocks;
using testing::RandomFloats;
using testing::WeightTypes;

struct Problem {
  DType t;
  int64_t rows, k, n_tok;
  std::vector<uint8_t> w;
  std::vector<float> x;     // n_tok x k
  std::vector<uint8_t> xq;  // converted activations
};

Problem Make(DType t, int64_t rows, int64_t k, int64_t n_tok, uint32_t seed) {
  Problem p{t, rows, k, n_tok, RandomBlocks(t, rows * k, seed), RandomFloats(n_tok * k, seed + 1),
            {}};
  p.xq.resize(n_tok * ActivationRowBytes(t, k));
  ConvertActivations(t, p.x.data(), k, k, n_tok, p.xq.data());
  return p;
}

// Double dot of dequantized weights and dequantized activations, and sum |w| |x| for the bound.
void Reference(const Problem& p, std::vector<double>* y, std::vector<double>* mag) {
  const DType at = ActivationType(p.t);
  const size_t wrb = RowBytes(p.t, p.k), xrb = RowBytes(at, p.k);
  std::vector<float> wf(p.k), xf(p.k);
  y->assign(p.n_tok * p.rows, 0);
  mag->assign(p.n_tok * p.rows, 0);
  for (int64_t t = 0; t < p.n_tok; ++t) {
    scalar::DequantizeRow(at, p.xq.data() + t * xrb, xf.data(), p.k);
    for (int64_t r = 0; r < p.rows; ++r) {
      scalar::DequantizeRow(p.t, p.w.data() + r * wrb, wf.data(), p.k);
      double s = 0, m = 0;
      for (int64_t i = 0; i < p.k; ++i) {
        s += static_cast<double>(wf[i]) * xf[i];
        m += std::fabs(static_cast<double>(wf[i]) * xf[i]);
      }
      (*y)[t * p.rows + r] = s;
      (*mag)[t * p.rows + r] = m;
    }
  }
}

TEST(MatMul, ActivationTypes) {
  EXPECT_EQ(ActivationType(DType::kQ4_0), DType::kQ8_0);
  EXPECT_EQ(ActivationType(DType::kQ5_1), DType::kQ8_0);
  EXPECT_EQ(ActivationType(DType::kQ4_K), DType::kQ8_K);
  EXPECT_EQ(ActivationType(DType::kF16), DType::kF32);
  EXPECT_EQ(ActivationType(DType::kIQ4_NL), DType::kQ8_0);
  EXPECT_EQ(ActivationType(DType::kMXFP4), DType::kQ8_0);
  EXPECT_EQ(ActivationType(DType::kIQ4_XS), DType::kQ8_K);
  EXPECT_EQ(ActivationType(DType::kIQ1_M), DType::kQ8_K);
  EXPECT_EQ(ActivationRowBytes(DType::kQ6_K, 512), 2u * 292u);
  EXPECT_EQ(ActivationRowBytes(DType::kQ8_0, 64), 2u * 34u);
}

TEST(MatMul, SimdAndScalarMatchDoubleReference) {
  for (DType t : testing::ComputeTypes()) {
    const int64_t bv = Info(t).block_values == 1 ? 32 : Info(t).block_values;
    for (int64_t blocks : {int64_t{1}, int64_t{5}}) {
      for (int64_t n_tok : {1, 2, 4, 5, 9}) {
        const int64_t rows = 7, k = blocks * bv + (Info(t).block_values == 1 ? 3 : 0);
        const Problem p = Make(t, rows, k, n_tok, static_cast<uint32_t>(blocks * 100 + n_tok));
        std::vector<double> ref, mag;
        Reference(p, &ref, &mag);
        std::vector<float> ys(n_tok * rows);
        scalar::MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, ys.data(), rows, 0,
                       rows);
        for (size_t i = 0; i < ys.size(); ++i) {
          ASSERT_NEAR(ys[i], ref[i], 1e-5 * mag[i] + 1e-30) << DTypeName(t) << " scalar " << i;
        }
        ForEachTarget([&](const std::string& target) {
          std::vector<float> y(n_tok * rows, -7.0f);
          MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, y.data(), rows, 0, rows);
          for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_NEAR(y[i], ys[i], 2e-6 * mag[i] + 1e-30)
                << DTypeName(t) << " " << target << " k=" << k << " n_tok=" << n_tok << " i=" << i;
          }
        });
      }
    }
  }
}

// A row range that is not a multiple of any tile writes exactly those rows, with stride ldy.
TEST(MatMul, RowRangeAndStride) {
  for (DType t : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kQ5_1, DType::kF16,
                  DType::kIQ4_NL, DType::kIQ4_XS, DType::kIQ2_S}) {
    const int64_t rows = 23, k = 512, n_tok = 6, ldy = 40, r0 = 3, r1 = 20;
    const Problem p = Make(t, rows, k, n_tok, 77);
    std::vector<float> want(n_tok * ldy, 0.0f);
    scalar::MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, want.data(), ldy, r0, r1);
    ForEachTarget([&](const std::string& target) {
      std::vector<float> y(n_tok * ldy, 0.0f);
      MatMul(t, p.w.data(), RowBytes(t, k), k, p.xq.data(), n_tok, y.data(), ldy, r0, r1);
      for (int64_t tok = 0; tok < n_tok; ++tok) {
        for (int64_t r = 0; r < ldy; ++r) {
          const float g = y[tok * ldy + r], w = want[tok * ldy + r];
          if (r < r0 || r >= r1) {
            ASSERT_EQ(g, 0.0f) << DTypeName(t) << " " << target << " wrote outside the range";
          } else {
            ASSERT_NEAR(g, w, 1e-4f * (1 + std::fabs(w))) << DTypeName(t) << " " << target;
          }
        }
      }
    });
  }
}

// The SIMD activation quantizer is bit-identical to the scalar one, ties (x * id = n + 0.5,
// rounded away from zero) and zero blocks included.
TEST(MatMul, ConvertActivationsMatchesScalar) {
  const int64_t k = 256 * 2, n_tok = 3;
  std::vector<float> x = RandomFloats(n_tok * k, 21, 3.0f);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i % 2 ? 127 - i : -(i + 0.5f));  // d = 1
  x[0] = 127.0f;
  for (int i = 0; i < 32; ++i) x[32 + i] = 0.0f;
  for (int i = 0; i < 32; ++i) x[64 + i] = (i - 16) * 0.5f + (i == 3 ? 63.5f : 0.0f);
  for (int i = 0; i < 256; ++i)
    x[256 + i] = static_cast<float>(i % 2 ? 127 - i % 128 : -(i % 128 + 0.5f));
  x[256] = 127.0f;  // a q8_K block with id = 1: ties
  for (DType t :
       {DType::kQ4_0, DType::kQ8_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K, DType::kF16}) {
    std::vector<uint8_t> want(n_tok * ActivationRowBytes(t, k));
    scalar::ConvertActivations(t, x.data(), k, k, n_tok, want.data());
    ForEachTarget([&](const std::string& target) {
      std::vector<uint8_t> got(want.size(), 0xAB);
      ConvertActivations(t, x.data(), k, k, n_tok, got.data());
      ASSERT_EQ(got, want) << DTypeName(t) << " " << target;
    });
  }
}

TEST(MatMul, TypeWithoutKernelGivesNaN) {
  std::vector<uint8_t> w(1024, 0x55), xq(1024, 0);
  float y[2] = {0, 0};
  MatMul(DType::kTQ1_0, w.data(), 54, 256, xq.data(), 1, y, 2, 0, 2);
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
}

// With real (quantized) data the matmul approximates the float product within the quant error.
TEST(MatMul, ApproximatesFloatProduct) {
  for (DType t : WeightTypes()) {
    const int64_t rows = 5, k = 1024;
    const std::vector<float> wf = RandomFloats(rows * k, 9), x = RandomFloats(k, 10);
    std::vector<uint8_t> w(RowBytes(t, rows * k));
    ASSERT_TRUE(QuantizeRow(t, wf.data(), w.data(), rows * k));
    std::vector<uint8_t> xq(ActivationRowBytes(t, k));
    ConvertActivations(t, x.data(), k, k, 1, xq.data());
    float y[rows];
    MatMul(t, w.data(), RowBytes(t, k), k, xq.data(), 1, y, rows, 0, rows);
    std::vector<float> wd(rows * k);
    DequantizeRow(t, w.data(), wd.data(), rows * k);
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, e2 = 0, x2 = 0;
      for (int64_t i = 0; i < k; ++i) {
        s += static_cast<double>(wf[r * k + i]) * x[i];
        e2 += (wd[r * k + i] - wf[r * k + i]) * (wd[r * k + i] - wf[r * k + i]);
        x2 += static_cast<double>(x[i]) * x[i];
      }
      // A random error vector e dotted with x is about |e| |x| / sqrt(k); allow 5 sigma, plus
      // the q8 activation error (~0.6% of |w| |x| / sqrt(k)).
      const double sigma = std::sqrt(e2 * x2 / double(k)) + 0.01 * std::sqrt(x2);
      EXPECT_NEAR(y[r], s, 5 * sigma) << DTypeName(t);
    }
  }
}

}  // namespace
}  // namespace shoal::kernels
