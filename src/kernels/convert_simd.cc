// ConvertActivations to q8_0 (the partner of q4_0 / q8_0 / q4_1 / q5_x weights) with Highway,
// bit-identical to the scalar quantizer: the same amax, scale d = amax / 127, id = 1 / d, and
// round half away from zero as std::lround does (floor of |v|, plus one when the exact fraction
// is >= 0.5). Other activation types use the scalar twin.
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

void QuantizeQ8_0Row(const float* x, int64_t k, BlockQ8_0* out) {
  const hn::CappedTag<float, 16> df;  // divides a block of 32
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  const auto half = hn::Set(df, 0.5f), one = hn::Set(df, 1.0f), qmax = hn::Set(df, 127.0f);
  for (int64_t ib = 0; ib < k / 32; ++ib) {
    const float* v = x + 32 * ib;
    auto m = hn::Zero(df);
    for (size_t i = 0; i < 32; i += N) m = hn::Max(m, hn::Abs(hn::LoadU(df, v + i)));
    const float amax = hn::GetLane(hn::MaxOfLanes(df, m));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[ib].d = F32ToF16(d);
    const auto idv = hn::Set(df, id);
    for (size_t i = 0; i < 32; i += N) {
      const auto s = hn::Mul(hn::LoadU(df, v + i), idv);
      const auto a = hn::Abs(s);
      auto r = hn::Floor(a);
      r = hn::IfThenElse(hn::Ge(hn::Sub(a, r), half), hn::Add(r, one), r);
      r = hn::CopySignToAbs(hn::Min(r, qmax), s);
      hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, r)), d8, out[ib].qs + i);
    }
  }
}

void ConvertActivationsT(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq) {
  if (ActivationType(w) != DType::kQ8_0) return scalar::ConvertActivations(w, x, ldx, k, n_tok, xq);
  const size_t rb = ActivationRowBytes(w, k);
  for (int64_t t = 0; t < n_tok; ++t) {
    QuantizeQ8_0Row(x + t * ldx, k,
                    reinterpret_cast<BlockQ8_0*>(static_cast<uint8_t*>(xq) + t * rb));
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
