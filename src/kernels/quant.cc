// Public quant entry points. Dequantization of the hot types is vectorized in matmul_simd.cc;
// everything else forwards to the scalar twin.
#include "kernels/quant.h"

namespace shoal::kernels {

bool QuantizeRow(DType t, const float* src, void* dst, int64_t n) {
  return scalar::QuantizeRow(t, src, dst, n);
}

}  // namespace shoal::kernels
