// Scalar twins of ops.h: plain loops, the reference the Highway versions are tested against.
#include <cmath>
#include <limits>

#include "kernels/ops.h"
#include "kernels/quant.h"

namespace shoal::kernels::scalar {

float Dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void RmsNorm(const float* x, const float* w, float eps, float* y, int64_t n) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n > 0 ? n : 1) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void Scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

void Add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void SiluMul(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float SoftmaxInPlace(float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return mx;
}

double LogSumExp(const float* x, int64_t n) {
  // Plain comparisons, not std::fmax (NaN is skipped either way): aarch64 GCC 12 stops with an
  // internal compiler error vectorizing an fmax reduction into double at -O3.
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > mx) mx = x[i];
  }
  if (std::isinf(mx) && mx < 0) return -std::numeric_limits<double>::infinity();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double t = double(x[i]) - double(mx);
    sum += std::exp(t > -100.0 ? t : -100.0);
  }
  return double(mx) + std::log(sum);
}

float DotF16(const uint16_t* a_f16, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += F16ToF32(a_f16[i]) * b[i];
  return s;
}

void AxpyF16(float a, const uint16_t* x_f16, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * F16ToF32(x_f16[i]);
}

void F32ToF16Row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = F32ToF16(x[i]);
}

}  // namespace shoal::kernels::scalar
