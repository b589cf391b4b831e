// Internal: the x8 layout of q6_K (kernels/repack.h), shared by the packer (repack_q6k.cc) and
// the SIMD tiles (matmul_repacked_q6k.cc). Not part of the public kernels API.
//
// Rows in groups of 8 as for q4_0 / q8_0 / q4_K; inside a group, super-block column ib takes
// the 8 blocks' 1680 bytes. With q the 6-bit quant (0..63, value = d * sc * (q - 32)):
//   f16 d[8]                               the 8 rows' super-block scales (16 bytes)
//   int8 sc[16][8]                         the 16 sub-block scales (16 values each), per row
//   uint8 lo[32][8][4]                     chunk 4P + c (pair P of sub-blocks 2P, 2P + 1, c < 4):
//                                          byte m of row r: low 4 bits of q[32P + 4c + m] |
//                                          those of q[32P + 16 + 4c + m] << 4
//   uint8 hi[8][2][8][4]                   for pair P and half h: byte m of row r holds the top
//                                          2 bits of q[32P + 16h + 4c + m] at bits 2c, 2c + 1
// so a vector of 6-bit quants for 16 rows is a load, a shift, two masks and one merge, and each
// sub-block's 16 values are 4 chunks of 4 bytes per row, as the other x8 layouts.
//
// Arithmetic of one output (row, token), the same in the scalar twin and every tile: per
// super-block, dot_g = -32 * bsums[g] + the integer dot of sub-block g's q by the q8_K quants;
//   fs = 0; fs = fma(float(dot_g), float(sc_g), fs) for g = 0..15;
//   acc = fma(fs, d * dx, acc)
// and y = acc after the last super-block.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::kernels::internal {

inline constexpr size_t kQ6KColBytes = 8 * 210;  // one super-block column of a group
inline constexpr size_t kQ6KScAt = 16, kQ6KLoAt = 144, kQ6KHiAt = 1168;

void PackQ6KColumn(const uint8_t* blk, size_t row_bytes, uint8_t* col);
void UnpackQ6KColumn(const uint8_t* col, size_t row_bytes, uint8_t* blk);

void MatMulRepackedQ6KScalar(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1);
void MatMulRepackedQ6K(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                       int64_t ldy, int64_t r0, int64_t r1);

}  // namespace shoal::kernels::internal
