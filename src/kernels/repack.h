// Row-interleaved ("x8") q4_0 / q8_0 weights (and q4_K: repack_q4k.h) for a faster matmul. The
// caller repacks a weight matrix once at load time (same bytes as the GGUF rows, laid out
// differently), then calls MatMulRepacked instead of MatMul on it, with activations from
// ConvertActivations as before.
//
// Layout: rows in groups of 8; a group is 8 * RowBytes(w, k) bytes, groups in row order. Inside
// a group, block column ib (values 32 ib .. 32 ib + 31 of each row) takes 8 * block_bytes bytes:
//   f16 d[8]                                   the 8 rows' block scales, row order
//   uint8 qs[n_chunks][8 rows][4]              n_chunks = 4 (q4_0) or 8 (q8_0)
// where qs[c][r][m] = byte 4 c + m of row r's block qs. One 32-byte chunk thus holds 4 bytes of
// each of the 8 rows: for q4_0 values 4c..4c+3 (low nibbles) and 16+4c..16+4c+3 (high nibbles),
// for q8_0 values 4c..4c+3. A kernel multiplies a chunk by 4 broadcast activation bytes and gets
// one partial sum per row in each 32-bit lane: no horizontal sums, and the 8 scales of a block
// column convert with one instruction.
//
// Each output is computed by one fixed sequence of operations whatever the row range, the
// token count or the thread split, so results are bit-identical for any number of threads and
// for a token whether it is decoded alone or in a batch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace shoal::kernels {

// Rows per interleaved group.
inline constexpr int64_t kRepackRows = 8;

// Whether weights of type w with these dimensions can be repacked: q4_0 or q8_0 with k a multiple
// of 32, or q4_K / q6_K with k a multiple of 256 on x86 CPUs with AVX2 (where their x8 tiles run;
// layouts in repack_q4k.h, repack_q6k.h); rows a multiple of 8.
bool CanRepack(DType w, int64_t rows, int64_t k);
// Bytes of the repacked matrix (equal to rows * RowBytes(w, k)).
size_t RepackedBytes(DType w, int64_t rows, int64_t k);
// Writes the repacked form of `rows` rows of k values (row stride w_row_bytes) to dst, which
// holds RepackedBytes(w, rows, k) bytes. Requires CanRepack. dst may be W itself (in place: each
// group of 8 rows is packed into the bytes it occupied) when w_row_bytes == RowBytes(w, k);
// otherwise they must not overlap.
void Repack(DType w, const void* W, size_t w_row_bytes, int64_t rows, int64_t k, void* dst);
// dst[0..k) = the values of row `row` of a repacked matrix (e.g. an embedding lookup in an
// output matrix tied to the token embeddings).
void DequantizeRepackedRow(DType w, const void* Wp, int64_t k, int64_t row, float* dst);
// Inverse of Repack (for tests and tools): dst gets rows of RowBytes(w, k) bytes.
void Unrepack(DType w, const void* Wp, int64_t rows, int64_t k, void* dst);

// As MatMul, on a repacked matrix Wp: for r in [r0, r1) and t in [0, n_tok),
// y[t * ldy + r] = dot(W_r, x_t). r0 and r1 must be multiples of kRepackRows (r1 may be the
// matrix's row count, itself a multiple of 8). xq: ConvertActivations(w, ...).
void MatMulRepacked(DType w, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                    int64_t ldy, int64_t r0, int64_t r1);

// For benchmarks and tests: false runs batches (n_tok > 1) through the tiles as they were before
// the batch tiles (fixed 2 x 3 / 2 x 4 tiles, token tiles outermost, no prefetch). The results
// are bit-identical either way. Process-wide; default true.
void SetSmallBatchTiles(bool on);
bool SmallBatchTiles();

namespace scalar {
void MatMulRepacked(DType w, const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                    int64_t ldy, int64_t r0, int64_t r1);
}  // namespace scalar

}  // namespace shoal::kernels
