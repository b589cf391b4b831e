// ops.h: every op on every compiled target against its scalar twin and a double reference.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomFloats;

const int64_t kSizes[] = {1, 3, 8, 17, 64, 1000};

double DotRef(const float* a, const float* b, int64_t n, double* mag) {
  double s = 0;
  *mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    s += static_cast<double>(a[i]) * b[i];
    *mag += std::fabs(static_cast<double>(a[i]) * b[i]);
  }
  return s;
}

TEST(Ops, DotAndDotF16) {
  for (int64_t n : kSizes) {
    const auto a = RandomFloats(n, 1), b = RandomFloats(n, 2);
    std::vector<uint16_t> a16(n);
    std::vector<float> a16f(n);
    for (int64_t i = 0; i < n; ++i) a16[i] = F32ToF16(a[i]), a16f[i] = F16ToF32(a16[i]);
    double mag, mag16;
    const double want = DotRef(a.data(), b.data(), n, &mag);
    const double want16 = DotRef(a16f.data(), b.data(), n, &mag16);
    EXPECT_NEAR(scalar::Dot(a.data(), b.data(), n), want, 1e-6 * mag);
    ForEachTarget([&](const std::string& target) {
      EXPECT_NEAR(Dot(a.data(), b.data(), n), want, 1e-6 * mag) << target << " n=" << n;
      EXPECT_NEAR(DotF16(a16.data(), b.data(), n), want16, 1e-6 * mag16) << target << " n=" << n;
    });
  }
}

TEST(Ops, Elementwise) {
  for (int64_t n : kSizes) {
    const auto x = RandomFloats(n, 3), w = RandomFloats(n, 4), g = RandomFloats(n, 5, 4.0f);
    std::vector<uint16_t> x16(n);
    for (int64_t i = 0; i < n; ++i) x16[i] = F32ToF16(x[i]);
    ForEachTarget([&](const std::string& target) {
      std::vector<float> y(n), z(n);
      // RmsNorm against double
      RmsNorm(x.data(), w.data(), 1e-5f, y.data(), n);
      double ss = 0;
      for (float v : x) ss += static_cast<double>(v) * v;
      const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_NEAR(y[i], x[i] * inv * w[i], 1e-5 * (1 + std::fabs(x[i] * inv * w[i]))) << target;
      // Axpy, Scale, Add
      y = w;
      Axpy(0.5f, x.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], w[i] + 0.5f * x[i], 1e-6f) << target;
      Scale(y.data(), -2.0f, n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], -2.0f * (w[i] + 0.5f * x[i]), 1e-5f);
      Add(x.data(), w.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i] + w[i]) << target;
      // SiluMul against double
      SiluMul(g.data(), w.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = g[i] / (1 + std::exp(-static_cast<double>(g[i]))) * w[i];
        ASSERT_NEAR(y[i], want, 1e-5 * (1 + std::fabs(want))) << target << " g=" << g[i];
      }
      // AxpyF16 and F32ToF16Row against the scalar conversions
      y = w;
      AxpyF16(0.25f, x16.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], w[i] + 0.25f * F16ToF32(x16[i]), 1e-6f);
      std::vector<uint16_t> h(n);
      F32ToF16Row(g.data(), h.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(h[i], F32ToF16(g[i])) << target << " " << g[i];
    });
  }
}

TEST(Ops, SoftmaxIsStableAndNormalized) {
  for (int64_t n : kSizes) {
    auto x = RandomFloats(n, 6, 10.0f);
    x[0] += 1000.0f;  // would overflow exp without subtracting the max
    std::vector<double> want(n);
    double mx = x[0], sum = 0;
    for (float v : x) mx = std::max(mx, static_cast<double>(v));
    for (int64_t i = 0; i < n; ++i) sum += want[i] = std::exp(x[i] - mx);
    ForEachTarget([&](const std::string& target) {
      std::vector<float> y = x;
      EXPECT_EQ(SoftmaxInPlace(y.data(), n), static_cast<float>(mx)) << target;
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(y[i], want[i] / sum, 1e-6) << target;
        total += y[i];
      }
      EXPECT_NEAR(total, 1.0, 1e-5) << target;
    });
    std::vector<float> y = x;
    EXPECT_EQ(scalar::SoftmaxInPlace(y.data(), n), static_cast<float>(mx));
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], want[i] / sum, 1e-6);
  }
}

// Against a double reference: random rows (one far above the rest), a vocabulary-sized row,
// rows with -inf entries (masked tokens), an all -inf row and an empty one.
TEST(Ops, LogSumExpMatchesDoubleReference) {
  const double kInf = std::numeric_limits<double>::infinity();
  auto reference = [](const std::vector<float>& x) {
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    for (float v : x) mx = std::max(mx, double(v));
    for (float v : x) sum += std::exp(double(v) - mx);
    return mx + std::log(sum);
  };
  std::vector<std::vector<float>> rows;
  for (int64_t n : {1, 3, 8, 17, 64, 1000, 128256}) {
    rows.push_back(RandomFloats(n, 11, 8.0f));
    rows.back()[size_t(n / 2)] += 500.0f;
    rows.push_back(RandomFloats(n, 12, 3.0f));
    for (int64_t i = 0; i < n; i += 3) rows.back()[size_t(i)] = -float(kInf);
    rows.back()[0] = -1.0f;  // never all -inf (that case is below)
  }
  for (const std::vector<float>& x : rows) {
    const double want = reference(x);
    const int64_t n = int64_t(x.size());
    EXPECT_NEAR(scalar::LogSumExp(x.data(), n), want, 1e-9 * std::max(1.0, std::fabs(want)));
    ForEachTarget([&](const std::string& target) {
      ASSERT_NEAR(LogSumExp(x.data(), n), want, 2e-6 * std::max(1.0, std::fabs(want)))
          << target << " n=" << n;
    });
  }
  const std::vector<float> masked(5, -float(kInf));
  EXPECT_EQ(scalar::LogSumExp(masked.data(), 5), -kInf);
  EXPECT_EQ(scalar::LogSumExp(nullptr, 0), -kInf);
  ForEachTarget([&](const std::string& target) {
    EXPECT_EQ(LogSumExp(masked.data(), 5), -kInf) << target;
    EXPECT_EQ(LogSumExp(nullptr, 0), -kInf) << target;
  });
}

TEST(Fp16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToF16(f), h) << h;
  }
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);         // rounds to inf
  EXPECT_EQ(F32ToF16(1.0f + 0x1p-11f), 0x3C00);  // tie to even
  EXPECT_EQ(F32ToF16(0x1p-25f), 0);              // tie to even (zero)
  EXPECT_EQ(F32ToBF16(1.0f + 0x1p-8f), 0x3F80);  // tie to even
  EXPECT_EQ(BF16ToF32(0x3F80), 1.0f);
}

}  // namespace
}  // namespace shoal::kernels
