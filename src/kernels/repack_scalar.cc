// Repacking to and from the row-interleaved x8 layout (see repack.h), and the scalar twin of
// MatMulRepacked: q4_0 / q8_0 rows are restored to their GGUF form and multiplied by the scalar
// MatMul; q4_K has its own twin (repack_q4k.cc).
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "kernels/repack_q4k.h"
#include "kernels/repack_q6k.h"

namespace shoal::kernels {
namespace {

// Bytes of qs per block and the offset of qs in a GGUF block (both types: f16 d, then qs).
int QsBytes(DType w) { return w == DType::kQ4_0 ? 16 : 32; }
constexpr int kQsAt = 2;

// Bytes and values of one block.
size_t BlockBytes(DType w) {
  if (w == DType::kQ4_K) return sizeof(BlockQ4_K);
  if (w == DType::kQ6_K) return sizeof(BlockQ6_K);
  return static_cast<size_t>(QsBytes(w) + kQsAt);
}
int64_t BlockValues(DType w) { return w == DType::kQ4_K || w == DType::kQ6_K ? 256 : 32; }

// Block column ib of 8 GGUF rows (row stride row_bytes, first block at blk) to its packed form.
void PackColumn(DType w, const uint8_t* blk, size_t row_bytes, uint8_t* packed) {
  if (w == DType::kQ4_K) return internal::PackQ4KColumn(blk, row_bytes, packed);
  if (w == DType::kQ6_K) return internal::PackQ6KColumn(blk, row_bytes, packed);
  const int qs = QsBytes(w);
  for (int r = 0; r < kRepackRows; ++r, blk += row_bytes) {
    std::memcpy(packed + 2 * r, blk, 2);
    for (int c = 0; c < qs / 4; ++c) {
      std::memcpy(packed + 2 * kRepackRows + c * 4 * kRepackRows + 4 * r, blk + kQsAt + 4 * c, 4);
    }
  }
}

// The inverse of PackColumn.
void UnpackColumn(DType w, const uint8_t* packed, size_t row_bytes, uint8_t* blk) {
  if (w == DType::kQ4_K) return internal::UnpackQ4KColumn(packed, row_bytes, blk);
  if (w == DType::kQ6_K) return internal::UnpackQ6KColumn(packed, row_bytes, blk);
  const int qs = QsBytes(w);
  for (int r = 0; r < kRepackRows; ++r, blk += row_bytes) {
    std::memcpy(blk, packed + 2 * r, 2);
    for (int c = 0; c < qs / 4; ++c) {
      std::memcpy(blk + kQsAt + 4 * c, packed + 2 * kRepackRows + c * 4 * kRepackRows + 4 * r, 4);
    }
  }
}

}  // namespace

namespace {
std::atomic<bool> g_small_batch_tiles{true};
}  // namespace

void SetSmallBatchTiles(bool on) { g_small_batch_tiles.store(on, std::memory_order_relaxed); }
bool SmallBatchTiles() { return g_small_batch_tiles.load(std::memory_order_relaxed); }

bool CanRepack(DType w, int64_t rows, int64_t k) {
  if (rows <= 0 || rows % kRepackRows != 0 || k <= 0) return false;
  if (w == DType::kQ4_0 || w == DType::kQ8_0) return k % 32 == 0;
  // q4_K / q6_K only where their tiles run (elsewhere the plain tiles beat the scalar twins).
  return (w == DType::kQ4_K || w == DType::kQ6_K) && k % 256 == 0 && internal::KQuantX8Tiles();
}

size_t RepackedBytes(DType w, int64_t rows, int64_t k) {
  return static_cast<size_t>(rows) * RowBytes(w, k);
}

void Repack(DType w, const void* W, size_t w_row_bytes, int64_t rows, int64_t k, void* dst) {
  const size_t rb = RowBytes(w, k), bb = BlockBytes(w);
  const uint8_t* src = static_cast<const uint8_t*>(W);
  uint8_t* out = static_cast<uint8_t*>(dst);
  // In place, group g's 8 rows occupy exactly the bytes its packed form will: copy them first.
  const bool in_place = src == out;
  std::vector<uint8_t> group(in_place ? kRepackRows * rb : 0);
  for (int64_t g = 0; g < rows / kRepackRows; ++g) {
    const uint8_t* rows8 = src + g * kRepackRows * w_row_bytes;
    if (in_place) {
      std::memcpy(group.data(), rows8, group.size());
      rows8 = group.data();
    }
    for (int64_t ib = 0; ib < k / BlockValues(w); ++ib) {
      PackColumn(w, rows8 + ib * bb, w_row_bytes,
                 out + g * kRepackRows * rb + ib * kRepackRows * bb);
    }
  }
}

void DequantizeRepackedRow(DType w, const void* Wp, int64_t k, int64_t row, float* dst) {
  const size_t rb = RowBytes(w, k);
  const int64_t g = row / kRepackRows, i = row % kRepackRows;
  std::vector<uint8_t> plain(kRepackRows * rb);
  Unrepack(w, static_cast<const uint8_t*>(Wp) + g * kRepackRows * rb, kRepackRows, k, plain.data());
  DequantizeRow(w, plain.data() + i * rb, dst, k);
}

void Unrepack(DType w, const void* Wp, int64_t rows, int64_t k, void* dst) {
  const size_t rb = RowBytes(w, k), bb = BlockBytes(w);
  const uint8_t* src = static_cast<const uint8_t*>(Wp);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < rows / kRepackRows; ++g) {
    for (int64_t ib = 0; ib < k / BlockValues(w); ++ib) {
      UnpackColumn(w, src + g * kRepackRows * rb + ib * kRepackRows * bb, rb,
                   out + g * kRepackRows * rb + ib * bb);
    }
  }
}

namespace scalar {

void MatMulRepacked(DType w, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                    int64_t ldy, int64_t r0, int64_t r1) {
  if (w == DType::kQ4_K) return internal::MatMulRepackedQ4KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
  if (w == DType::kQ6_K) return internal::MatMulRepackedQ6KScalar(Wp, k, xq, n_tok, y, ldy, r0, r1);
  const size_t rb = RowBytes(w, k);
  std::vector<uint8_t> rows(kRepackRows * rb);
  const uint8_t* p = static_cast<const uint8_t*>(Wp);
  for (int64_t g0 = r0; g0 < r1; g0 += kRepackRows) {
    Unrepack(w, p + g0 * rb, kRepackRows, k, rows.data());
    MatMul(w, rows.data(), rb, k, xq, n_tok, y + g0, ldy, 0, kRepackRows);
  }
}

}  // namespace scalar
}  // namespace shoal::kernels
