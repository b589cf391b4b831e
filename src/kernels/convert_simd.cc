// ConvertActivations to q8_0 (the partner of q4_0 / q8_0 / q4_1 / q5_x weights) and q8_K (the
// k-quants) with Highway,
// bit-identical to the scalar quantizer: the same amax, scale d = amax / 127, id = 1 / d, and
// round half away from zero as std::lround does (floor of |v|, plus one when the exact fraction
// is >= 0.5); q8_K likewise. f32 activations (float weights) use the scalar twin.
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/convert_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace shoal::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// max |v[i]| over n values (n a multiple of the lanes of df).
template <class DF>
HWY_INLINE float AbsMax(DF df, const float* v, size_t n) {
  auto m = hn::Zero(df);
  for (size_t i = 0; i < n; i += hn::Lanes(df)) m = hn::Max(m, hn::Abs(hn::LoadU(df, v + i)));
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

// v * idv rounded half away from zero, clamped to [-127, 127], as int32 lanes (the scalar
// quantizers' rounding).
template <class DF, class DI>
HWY_INLINE hn::Vec<DI> QuantizeLanes(DF df, DI di, const float* v, hn::Vec<DF> idv) {
  const auto s = hn::Mul(hn::LoadU(df, v), idv);
  const auto a = hn::Abs(s);
  auto r = hn::Floor(a);
  r = hn::IfThenElse(hn::Ge(hn::Sub(a, r), hn::Set(df, 0.5f)), hn::Add(r, hn::Set(df, 1.0f)), r);
  return hn::ConvertTo(di, hn::CopySignToAbs(hn::Min(r, hn::Set(df, 127.0f)), s));
}

void QuantizeQ8_0Row(const float* x, int64_t k, BlockQ8_0* out) {
  const hn::CappedTag<float, 16> df;  // divides a block of 32
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t ib = 0; ib < k / 32; ++ib) {
    const float* v = x + 32 * ib;
    const float d = AbsMax(df, v, 32) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[ib].d = F32ToF16(d);
    const auto idv = hn::Set(df, id);
    for (size_t i = 0; i < 32; i += N) {
      hn::StoreU(hn::DemoteTo(d8, QuantizeLanes(df, di, v + i, idv)), d8, out[ib].qs + i);
    }
  }
}

// q8_K (the k-quants' partner): d = amax / 127 as float, id = 127 / amax, and the 16 sums of
// 16 quants, as the scalar QuantQ8_K.
void QuantizeQ8_KRow(const float* x, int64_t k, BlockQ8_K* out) {
  const hn::CappedTag<float, 16> df;  // divides a group of 16
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t ib = 0; ib < k / 256; ++ib) {
    const float* v = x + 256 * ib;
    BlockQ8_K& b = out[ib];
    const float amax = AbsMax(df, v, 256);
    b.d = amax / 127.0f;
    const auto idv = hn::Set(df, amax != 0 ? 127.0f / amax : 0.0f);
    for (int g = 0; g < 16; ++g) {
      auto sum = hn::Zero(di);
      for (size_t i = 0; i < 16; i += N) {
        const auto q = QuantizeLanes(df, di, v + 16 * g + i, idv);
        sum = hn::Add(sum, q);
        hn::StoreU(hn::DemoteTo(d8, q), d8, b.qs + 16 * g + i);
      }
      b.bsums[g] = static_cast<int16_t>(hn::GetLane(hn::SumOfLanes(di, sum)));
    }
  }
}

void ConvertActivationsT(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq) {
  const DType a = ActivationType(w);
  if (a != DType::kQ8_0 && a != DType::kQ8_K) {
    return scalar::ConvertActivations(w, x, ldx, k, n_tok, xq);
  }
  const size_t rb = ActivationRowBytes(w, k);
  for (int64_t t = 0; t < n_tok; ++t) {
    uint8_t* row = static_cast<uint8_t*>(xq) + t * rb;
    if (a == DType::kQ8_0) {
      QuantizeQ8_0Row(x + t * ldx, k, reinterpret_cast<BlockQ8_0*>(row));
    } else {
      QuantizeQ8_KRow(x + t * ldx, k, reinterpret_cast<BlockQ8_K*>(row));
    }
  }
}

}  // namespace shoal::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace shoal::kernels {
HWY_EXPORT(ConvertActivationsT);

void ConvertActivations(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq) {
  HWY_DYNAMIC_DISPATCH(ConvertActivationsT)(w, x, ldx, k, n_tok, xq);
}
}  // namespace shoal::kernels
#endif  // HWY_ONCE
