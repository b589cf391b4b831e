// Dequantization and quantization: the scalar twin against an independent loop-style reference
// written from the GGUF block formulas, SIMD against scalar on every target (bit-identical), and
// dequant(quant(x)) error bounds per type.
#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomBlocks;
using testing::RandomFloats;
using testing::WeightTypes;

// Reference dequantizers in the nested-loop form of the format's definition (sub-block loops,
// shifting masks), deliberately unlike the per-value addressing of the scalar twin.
void RefQ2K(const BlockQ2_K& b, float* y) {
  const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
  const uint8_t* q = b.qs;
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const int sc = b.scales[is++];
        for (int l = 0; l < 16; ++l) {
          *y++ = d * (sc & 0xF) * ((q[l + 16 * half] >> shift) & 3) - dmin * (sc >> 4);
        }
      }
    }
    q += 32;
  }
}

void RefQ3K(const BlockQ3_K& b, float* y) {
  uint32_t aux[4];
  std::memcpy(aux, b.scales, 12);
  const uint32_t tmp = aux[2];
  const uint32_t k1 = 0x03030303u, k2 = 0x0f0f0f0fu;
  aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
  aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
  aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
  aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
  int8_t scales[16];
  std::memcpy(scales, aux, 16);
  const float d = F16ToF32(b.d);
  const uint8_t* q = b.qs;
  uint8_t m = 1;
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(scales[is++] - 32);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          *y++ = dl * static_cast<float>(((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4));
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
}

void RefQ45K(const uint8_t* scales, const uint8_t* qs, const uint8_t* qh, float d, float dmin,
             float* y) {
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    int sc, m;
    ScaleMinK4(scales, is, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(scales, is + 1, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      const int h = qh && (qh[l] & u1) ? 16 : 0;
      *y++ = d1 * static_cast<float>((qs[l] & 0xF) + h) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      const int h = qh && (qh[l] & u2) ? 16 : 0;
      *y++ = d2 * static_cast<float>((qs[l] >> 4) + h) - m2;
    }
    qs += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

void RefQ6K(const BlockQ6_K& b, float* y) {
  const float d = F16ToF32(b.d);
  const uint8_t* ql = b.ql;
  const uint8_t* qh = b.qh;
  const int8_t* sc = b.scales;
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void RefQ5_0(const BlockQ5_0& b, float* y) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const float d = F16ToF32(b.d);
  for (int j = 0; j < 16; ++j) {
    const int x0 = ((b.qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16;
    const int x1 = ((b.qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
    y[j] = x0 * d;
    y[j + 16] = x1 * d;
  }
}

// Reference dequantization of one block; false for types without a reference here.
bool RefBlock(DType t, const uint8_t* p, float* y) {
  switch (t) {
    case DType::kQ2_K:
      RefQ2K(*reinterpret_cast<const BlockQ2_K*>(p), y);
      return true;
    case DType::kQ3_K:
      RefQ3K(*reinterpret_cast<const BlockQ3_K*>(p), y);
      return true;
    case DType::kQ4_K: {
      const auto& b = *reinterpret_cast<const BlockQ4_K*>(p);
      RefQ45K(b.scales, b.qs, nullptr, F16ToF32(b.d), F16ToF32(b.dmin), y);
      return true;
    }
    case DType::kQ5_K: {
      const auto& b = *reinterpret_cast<const BlockQ5_K*>(p);
      RefQ45K(b.scales, b.qs, b.qh, F16ToF32(b.d), F16ToF32(b.dmin), y);
      return true;
    }
    case DType::kQ6_K:
      RefQ6K(*reinterpret_cast<const BlockQ6_K*>(p), y);
      return true;
    case DType::kQ5_0:
      RefQ5_0(*reinterpret_cast<const BlockQ5_0*>(p), y);
      return true;
    default:
      return false;
  }
}

TEST(Quant, ScalarMatchesLoopReference) {
  for (DType t : WeightTypes()) {
    const DTypeInfo& info = Info(t);
    const int64_t n = 4 * info.block_values;
    const std::vector<uint8_t> w = RandomBlocks(t, n, 11);
    std::vector<float> got(n), want(n);
    scalar::DequantizeRow(t, w.data(), got.data(), n);
    bool have = true;
    for (int64_t ib = 0; ib < 4 && have; ++ib) {
      have = RefBlock(t, w.data() + ib * info.block_bytes, want.data() + ib * info.block_values);
    }
    if (!have) continue;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-6f * (1 + std::fabs(want[i]))) << DTypeName(t) << " " << i;
    }
  }
}

TEST(Quant, Q4_0KnownValues) {
  BlockQ4_0 b;
  b.d = F32ToF16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  DequantizeRow(DType::kQ4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j));
  }
}

TEST(Quant, SimdDequantBitIdentical) {
  for (DType t : testing::ComputeTypes()) {
    const int64_t n = 3 * Info(t).block_values + (Info(t).block_values == 1 ? 37 : 0);
    const std::vector<uint8_t> w = RandomBlocks(t, n, 5);
    std::vector<float> want(n);
    scalar::DequantizeRow(t, w.data(), want.data(), n);
    ForEachTarget([&](const std::string& target) {
      std::vector<float> got(n, -1.0f);
      DequantizeRow(t, w.data(), got.data(), n);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), n * sizeof(float)))
          << DTypeName(t) << " on " << target;
    });
  }
}

// Root-mean-square error of dequant(quant(x)) relative to rms(x), for Gaussian x.
double RoundTripError(DType t, int64_t n, uint32_t seed) {
  const std::vector<float> x = RandomFloats(n, seed);
  std::vector<uint8_t> q(RowBytes(t, n));
  EXPECT_TRUE(QuantizeRow(t, x.data(), q.data(), n));
  std::vector<float> y(n);
  DequantizeRow(t, q.data(), y.data(), n);
  double e2 = 0, x2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    e2 += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    x2 += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(e2 / x2);
}

TEST(Quant, RoundTripErrorBounds) {
  struct Bound {
    DType t;
    double max_rel_rms;
  };
  const Bound bounds[] = {
      {DType::kF32, 0.0},     {DType::kF16, 4e-4},     {DType::kBF16, 3e-3},
      {DType::kQ8_0, 0.01},   {DType::kQ8_K, 0.01},    {DType::kQ4_0, 0.13},
      {DType::kQ4_1, 0.11},   {DType::kQ5_0, 0.065},   {DType::kQ5_1, 0.055},
      {DType::kQ2_K, 0.45},   {DType::kQ3_K, 0.25},    {DType::kQ4_K, 0.12},
      {DType::kQ5_K, 0.06},   {DType::kQ6_K, 0.035},   {DType::kIQ4_NL, 0.12},
      {DType::kIQ4_XS, 0.12}, {DType::kIQ2_XXS, 0.40},
  };
  for (const Bound& b : bounds) {
    const double err = RoundTripError(b.t, 4096, 3);
    EXPECT_LE(err, b.max_rel_rms) << DTypeName(b.t);
    std::printf("%-5s rel rms error %.4f\n", std::string(DTypeName(b.t)).c_str(), err);
  }
}

TEST(Quant, ZeroRowRoundTripsToZero) {
  for (DType t : WeightTypes()) {
    const int64_t n = 512;
    std::vector<float> x(n, 0.0f), y(n, 1.0f);
    std::vector<uint8_t> q(RowBytes(t, n));
    ASSERT_TRUE(QuantizeRow(t, x.data(), q.data(), n));
    DequantizeRow(t, q.data(), y.data(), n);
    for (float v : y) ASSERT_EQ(v, 0.0f) << DTypeName(t);
  }
}

TEST(Quant, UnsupportedTypeIsRefused) {
  float x[256] = {};
  uint8_t q[1024];
  EXPECT_FALSE(QuantizeRow(DType::kIQ3_XXS, x, q, 256));
}

}  // namespace
}  // namespace shoal::kernels
