// Matrix times activations: y[t][r] = dot(W row r, x row t), for weights of any computable type.
// Activations are first converted once per matmul into the weight type's partner format (q8_0 for
// the 32-value quants, q8_K for the k-quants, f32 for float weights), then every thread computes a
// range of output rows. Dispatched once per call, never per row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace shoal::kernels {

// The activation format paired with weights of type w.
DType ActivationType(DType w);
// Bytes of one converted activation row of k values.
size_t ActivationRowBytes(DType w, int64_t k);
// Converts n_tok rows of k floats (row stride ldx floats) for weights of type w; xq holds
// n_tok * ActivationRowBytes(w, k) bytes.
void ConvertActivations(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq);

// For r in [r0, r1) and t in [0, n_tok): y[t * ldy + r] = dot(W_r, x_t).
// W: rows of k values of type w, w_row_bytes apart. xq: from ConvertActivations.
void MatMul(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
            float* y, int64_t ldy, int64_t r0, int64_t r1);

namespace scalar {
void ConvertActivations(DType w, const float* x, int64_t ldx, int64_t k, int64_t n_tok, void* xq);
void MatMul(DType w, const void* W, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
            float* y, int64_t ldy, int64_t r0, int64_t r1);
}  // namespace scalar

}  // namespace shoal::kernels
