// The grid i-quants' SIMD tiles (the 512-bit vpdpbusd tiles where the CPU has AVX512-VNNI, the
// AVX2 tiles elsewhere, every compiled Highway target) against the scalar twin, on shapes that
// exercise every tile and its leftovers: rows not a multiple of the row tile, token counts that
// leave 4-, 2- and 1-token remainders after the 8-token tiles, k of one super-block, row ranges
// and output strides.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/int8_dot.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::RandomBlocks;
using testing::RandomFloats;

const DType kGridTypes[] = {DType::kIQ2_XXS, DType::kIQ2_XS, DType::kIQ2_S, DType::kIQ3_XXS,
                            DType::kIQ3_S,   DType::kIQ1_S,  DType::kIQ1_M};

// y[t * ldy + r] for rows [r0, r1) from the scalar twin and from the dispatched kernels; the
// tolerance is the one the fixture tests use: 1e-6 of sum |w x| per output.
void CheckShape(DType t, int64_t rows, int64_t k, int64_t n_tok, int64_t r0, int64_t r1,
                uint32_t seed) {
  const std::vector<uint8_t> w = RandomBlocks(t, rows * k, seed);
  const std::vector<float> x = RandomFloats(n_tok * k, seed + 1);
  const size_t wrb = RowBytes(t, k);
  std::vector<uint8_t> xq(n_tok * ActivationRowBytes(t, k));
  scalar::ConvertActivations(t, x.data(), k, k, n_tok, xq.data());
  const int64_t ldy = rows + 3;
  std::vector<float> want(n_tok * ldy, -5.0f);
  scalar::MatMul(t, w.data(), wrb, k, xq.data(), n_tok, want.data(), ldy, r0, r1);
  // sum |w x| per output from the dequantized rows
  const DType at = ActivationType(t);
  std::vector<float> wf(k), xf(k);
  std::vector<double> mag(n_tok * ldy, 0.0);
  for (int64_t j = 0; j < n_tok; ++j) {
    scalar::DequantizeRow(at, xq.data() + j * ActivationRowBytes(t, k), xf.data(), k);
    for (int64_t r = r0; r < r1; ++r) {
      scalar::DequantizeRow(t, w.data() + r * wrb, wf.data(), k);
      for (int64_t i = 0; i < k; ++i) mag[j * ldy + r] += std::fabs(double(wf[i]) * xf[i]);
    }
  }
  testing::ForEachTarget([&](const std::string& target) {
    std::vector<float> y(n_tok * ldy, -5.0f);
    MatMul(t, w.data(), wrb, k, xq.data(), n_tok, y.data(), ldy, r0, r1);
    for (int64_t j = 0; j < n_tok; ++j) {
      for (int64_t r = 0; r < ldy; ++r) {
        const size_t i = j * ldy + r;
        if (r < r0 || r >= r1) {
          ASSERT_EQ(y[i], -5.0f) << "wrote outside its rows: " << DTypeName(t) << " " << target;
          continue;
        }
        ASSERT_NEAR(y[i], want[i], 1e-6 * mag[i] + 1e-30)
            << DTypeName(t) << " " << target << " rows " << rows << " k " << k << " n_tok " << n_tok
            << " token " << j << " row " << r;
      }
    }
  });
}

TEST(IQuantMatMul, SimdMatchesScalarOnOddShapes) {
  const bool loads = GridByLoads();
  for (bool by_loads : {false, true}) {  // iq2_xxs grid entries by gather and by loads
    SetGridByLoads(by_loads);
    uint32_t seed = 100;
    for (DType t : kGridTypes) {
      CheckShape(t, 7, 256, 1, 0, 7, seed++);   // decode: 4-, 2- and 1-row tiles
      CheckShape(t, 3, 256, 15, 0, 3, seed++);  // 8 + 4 + 2 + 1 tokens, k of one super-block
      CheckShape(t, 7, 768, 9, 1, 6, seed++);   // row range inside the matrix
      CheckShape(t, 2, 512, 16, 0, 2, seed++);  // one 16-token tile
      CheckShape(t, 1, 1024, 3, 0, 1, seed++);  // a single row, 2 + 1 tokens
    }
  }
  SetGridByLoads(loads);
}

}  // namespace
}  // namespace shoal::kernels
