// MatMulRows on repacked weights: any row range, 8-aligned or not, gives the rows the plain
// kernel gives on the original matrix.
#include "runtime/layer_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/quant.h"

namespace shoal::runtime {
namespace {

TEST(MatMulRows, RepackedRaggedRangesMatchPlain) {
  for (DType type : {DType::kQ4_0, DType::kQ8_0}) {
    const int64_t rows = 40, k = 96, n_tok = 3;
    const size_t rb = RowBytes(type, k);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    std::vector<uint8_t> plain(rb * rows), packed(rb * rows);
    std::vector<float> row(k), x(k * n_tok);
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = nd(rng);
      ASSERT_TRUE(kernels::QuantizeRow(type, row.data(), plain.data() + r * rb, k));
    }
    for (float& v : x) v = nd(rng);
    ASSERT_TRUE(kernels::CanRepack(type, rows, k));
    kernels::Repack(type, plain.data(), rb, rows, k, packed.data());
    std::vector<uint8_t> xq(kernels::ActivationRowBytes(type, k) * n_tok);
    kernels::ConvertActivations(type, x.data(), k, k, n_tok, xq.data());

    model::MatrixWeight p{plain.data(), type, rows, k, rb, false};
    model::MatrixWeight q{packed.data(), type, rows, k, rb, true};
    std::vector<float> want(n_tok * rows), got(n_tok * rows);
    internal::MatMulRows(p, xq.data(), n_tok, want.data(), rows, 0, rows);
    for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 40},
                          {3, 13},
                          {0, 5},
                          {17, 24},
                          {8, 16},
                          {33, 40},
                          {9, 10}}) {
      std::fill(got.begin(), got.end(), -1e30f);
      internal::MatMulRows(q, xq.data(), n_tok, got.data(), rows, r0, r1);
      for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          const float g = got[t * rows + r], w = want[t * rows + r];
          if (r < r0 || r >= r1) {
            EXPECT_EQ(g, -1e30f) << "row " << r << " outside [" << r0 << ", " << r1 << ")";
          } else {
            EXPECT_NEAR(g, w, 1e-4f * (1 + std::fabs(w))) << r0 << "-" << r1 << " row " << r;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace shoal::runtime
