// Internal to the runtime: small helpers shared by the MoE FFN (moe.cc) and MLA attention
// (mla.cc) blocks of the forward pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "model/model.h"

namespace shoal::runtime::internal {

// Rows [r0, r1) of a matrix as a matrix of its own (an expert of a 3-D tensor, a head's block).
inline model::MatrixWeight Rows(const model::MatrixWeight& w, int64_t r0, int64_t r1) {
  model::MatrixWeight m = w;
  m.data = w.data + size_t(r0) * w.row_bytes;
  m.rows = r1 - r0;
  return m;
}

// y[t * ldy + r] = W_r · x_t for r in [r0, r1), t < n_tok (xq: converted for w.type).
// Repacked matrices compute whole groups of 8 rows: a range that does not start and end on a
// group goes through a scratch buffer (the runtime's ranges are head- or 16-row-aligned, so only
// unusual shapes take that path).
void MatMulRepackedRagged(const model::MatrixWeight& w, const void* xq, int64_t n_tok, float* y,
                          int64_t ldy, int64_t r0, int64_t r1);
inline void MatMulRows(const model::MatrixWeight& w, const void* xq, int64_t n_tok, float* y,
                       int64_t ldy, int64_t r0, int64_t r1) {
  if (r0 >= r1 || n_tok <= 0) return;
  if (!w.repacked) {
    kernels::MatMul(w.type, w.data, w.row_bytes, w.cols, xq, n_tok, y, ldy, r0, r1);
  } else if (r0 % 8 == 0 && (r1 % 8 == 0 || r1 == w.rows)) {
    kernels::MatMulRepacked(w.type, w.data, w.cols, xq, n_tok, y, ldy, r0, r1);
  } else {
    MatMulRepackedRagged(w, xq, n_tok, y, ldy, r0, r1);
  }
}

// One input converted for the activation formats of up to 4 weights: rows of k values.
class ActBuffers {
 public:
  // Registers the weights that read this input; sizes for n_rows rows.
  void Prepare(std::initializer_list<const model::MatrixWeight*> ws, int64_t k, int64_t n_rows) {
    n_ = 0;
    k_ = k;
    for (const model::MatrixWeight* w : ws) {
      if (w->data == nullptr || Find(w->type) >= 0) continue;
      types_[n_] = w->type;
      row_bytes_[n_] = kernels::ActivationRowBytes(w->type, k);
      if (buf_[n_].size() < row_bytes_[n_] * size_t(n_rows)) {
        buf_[n_].resize(row_bytes_[n_] * size_t(n_rows));
      }
      ++n_;
    }
  }
  // Converts rows [t0, t1) of x (row stride ldx floats) into rows [t0, t1).
  void Convert(const float* x, int64_t ldx, int64_t t0, int64_t t1) {
    for (int i = 0; i < n_ && t0 < t1; ++i) {
      kernels::ConvertActivations(types_[i], x + t0 * ldx, ldx, k_, t1 - t0,
                                  buf_[i].data() + size_t(t0) * row_bytes_[i]);
    }
  }
  const uint8_t* For(const model::MatrixWeight& w) const { return buf_[Find(w.type)].data(); }
  uint8_t* For(const model::MatrixWeight& w) { return buf_[Find(w.type)].data(); }
  size_t RowBytes(const model::MatrixWeight& w) const { return row_bytes_[Find(w.type)]; }
  int n() const { return n_; }
  size_t row_bytes(int i) const { return row_bytes_[i]; }
  uint8_t* buf(int i) { return buf_[i].data(); }

 private:
  int Find(DType w) const {
    const DType a = kernels::ActivationType(w);
    for (int i = 0; i < n_; ++i) {
      if (kernels::ActivationType(types_[i]) == a) return i;
    }
    return -1;
  }
  DType types_[4] = {};
  size_t row_bytes_[4] = {};
  std::vector<uint8_t> buf_[4];
  int n_ = 0;
  int64_t k_ = 0;
};

}  // namespace shoal::runtime::internal
