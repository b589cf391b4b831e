// Activation conversion (the scalar quantizer; it is O(k * n_tok), small next to the matmul).
#include "kernels/matmul.h"

namespace shoal::kernels {

void ConvertActivations(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq) {
  scalar::ConvertActivations(w, x, ldx, k, n_tok, xq);
}

}  // namespace shoal::kernels
