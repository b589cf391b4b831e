// Highway versions of ops.h, compiled once per SIMD target (foreach_target) and dispatched once
// per call. Tails shorter than a vector are done with scalar code.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/quant.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// after highway.h: per-target
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// Hardware f32<->f16 conversion rounds to nearest even; the 1.0.3 emulation on other targets
// does not round the same way, so those targets use the scalar conversion.
#undef SHOAL_HWY_F16
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || HWY_ARCH_ARM_A64
#define SHOAL_HWY_F16 1
#else
#define SHOAL_HWY_F16 0
#endif

float DotImpl(const float* a, const float* b, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), hn::LoadU(d, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), hn::LoadU(d, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void RmsNormImpl(const float* x, const float* w, float eps, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float ss = DotImpl(x, x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n > 0 ? n : 1) + eps);
  const auto vinv = hn::Set(d, inv);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vinv), hn::LoadU(d, w + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void AxpyImpl(float a, const float* x, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void ScaleImpl(float* x, float a, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), va), d, x + i);
  for (; i < n; ++i) x[i] *= a;
}

void AddImpl(const float* a, const float* b, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Add(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, y + i);
  for (; i < n; ++i) y[i] = a[i] + b[i];
}

void SiluMulImpl(const float* gate, const float* up, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  const auto hi = hn::Set(d, 88.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(d, gate + i);
    const auto e = hn::Exp(d, hn::Min(hn::Neg(g), hi));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(d, up + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// The row's max (-inf for n == 0).
float RowMax(const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float mx = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  if (n >= N) {
    auto vm = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vm = hn::Max(vm, hn::LoadU(d, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(d, vm));
  }
  for (; i < n; ++i) mx = std::fmax(mx, x[i]);
  return mx;
}

float SoftmaxInPlaceImpl(float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float mx = RowMax(x, n);
  const auto vmx = hn::Set(d, mx);
  auto vs = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmx));
    hn::StoreU(e, d, x + i);
    vs = hn::Add(vs, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vs));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  ScaleImpl(x, 1.0f / sum, n);
  return mx;
}

double LogSumExpImpl(const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float mx = RowMax(x, n);
  if (std::isinf(mx) && mx < 0) return -std::numeric_limits<double>::infinity();
  // Each term is at most 1: float lanes add up to 1024 vectors' worth before the sum moves to
  // double, so a lane's rounding error stays below 1024 ulps of its partial sum.
  const auto vmx = hn::Set(d, mx), lo = hn::Set(d, -100.0f);
  constexpr int64_t kBlock = 1024;
  double sum = 0;
  int64_t i = 0;
  while (i + N <= n) {
    auto vs = hn::Zero(d);
    const int64_t end = std::min(n - N, i + kBlock * N);
    for (; i <= end; i += N) {
      vs = hn::Add(vs, hn::Exp(d, hn::Max(hn::Sub(hn::LoadU(d, x + i), vmx), lo)));
    }
    sum += double(hn::GetLane(hn::SumOfLanes(d, vs)));
  }
  for (; i < n; ++i) sum += double(std::exp(std::fmax(x[i] - mx, -100.0f)));
  return double(mx) + std::log(sum);
}

#if SHOAL_HWY_F16
using DH = hn::Rebind<hwy::float16_t, DF>;
HWY_INLINE hn::Vec<DF> LoadF16(const uint16_t* p) {
  return hn::PromoteTo(DF(), hn::LoadU(DH(), reinterpret_cast<const hwy::float16_t*>(p)));
}
#endif

float DotF16Impl(const uint16_t* a, const float* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#if SHOAL_HWY_F16
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(LoadF16(a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(LoadF16(a + i + N), hn::LoadU(d, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(LoadF16(a + i), hn::LoadU(d, b + i), s0);
  s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
#endif
  for (; i < n; ++i) s += F16ToF32(a[i]) * b[i];
  return s;
}

void AxpyF16Impl(float a, const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
#if SHOAL_HWY_F16
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::MulAdd(va, LoadF16(x + i), hn::LoadU(d, y + i)), d, y + i);
  }
#endif
  for (; i < n; ++i) y[i] += a * F16ToF32(x[i]);
}

void F32ToF16RowImpl(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
#if SHOAL_HWY_F16
  const DF d;
  const DH dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::DemoteTo(dh, hn::LoadU(d, x + i)), dh, reinterpret_cast<hwy::float16_t*>(y + i));
  }
#endif
  for (; i < n; ++i) y[i] = F32ToF16(x[i]);
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels {

HWY_EXPORT(DotImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(SoftmaxInPlaceImpl);
HWY_EXPORT(LogSumExpImpl);
HWY_EXPORT(DotF16Impl);
HWY_EXPORT(AxpyF16Impl);
HWY_EXPORT(F32ToF16RowImpl);

float Dot(const float* a, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n);
}
void RmsNorm(const float* x, const float* w, float eps, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, w, eps, y, n);
}
void Axpy(float a, const float* x, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyImpl)(a, x, y, n);
}
void Scale(float* x, float a, int64_t n) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, a, n); }
void Add(const float* a, const float* b, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddImpl)(a, b, y, n);
}
void SiluMul(const float* gate, const float* up, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate, up, y, n);
}
float SoftmaxInPlace(float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SoftmaxInPlaceImpl)(x, n); }
double LogSumExp(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(LogSumExpImpl)(x, n); }
float DotF16(const uint16_t* a_f16, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF16Impl)(a_f16, b, n);
}
void AxpyF16(float a, const uint16_t* x_f16, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyF16Impl)(a, x_f16, y, n);
}
void F32ToF16Row(const float* x, uint16_t* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(F32ToF16RowImpl)(x, y, n);
}

}  // namespace shoal::kernels
#endif  // HWY_ONCE
