// Internal: the x8 layout of q4_K (kernels/repack.h), shared by the packer (repack_q4k.cc) and
// the SIMD tiles (matmul_repacked_q4k.cc). Not part of the public kernels API.
//
// Rows in groups of 8 as for q4_0 / q8_0; inside a group, super-block column ib (values
// 256 ib .. 256 ib + 255 of each row) takes the 8 blocks' 1152 bytes:
//   f16 d[8], f16 dmin[8]                         the 8 rows' super-block scales (32 bytes)
//   uint8 ls[4][8]                                per pair j of sub-blocks (2j, 2j+1) and row:
//                                                 low 4 bits of scale 2j | those of 2j+1 << 4
//   uint8 lm[4][8]                                the same for the mins
//   uint8 hb[4][8]                                the high 2 bits of scale 2j, scale 2j+1,
//                                                 min 2j, min 2j+1 (bits 0-1, 2-3, 4-5, 6-7)
//   uint8 qs[32][8][4]                            chunk 8j + c: bytes 32j + 4c .. + 3 of each
//                                                 row's qs (low nibbles: values 64j + 4c ..,
//                                                 sub-block 2j; high: 64j + 32 + 4c .., 2j + 1)
// (the 6-bit scales and mins of GGUF's 12 packed bytes, rearranged so that a vector of 16 rows'
// scales for one sub-block is two byte loads and a zero extension away).
//
// Arithmetic of one output (row, token), the same in the scalar twin and every tile: per
// super-block, dot_s = the integer dot of sub-block s (32 nibbles by 32 q8_K quants), then
//   fs = 0; fs = fma(float(dot_s), float(sc_s), fs) for s = 0..7;
//   ms = sum_s m_s * (bsums[2s] + bsums[2s + 1])              (exact, int32)
//   acc = fma(fs, d * dx, acc); acc = fma(float(ms), dmin * -dx, acc)
// and y = acc after the last super-block.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::kernels::internal {

inline constexpr size_t kQ4KColBytes = 8 * 144;  // one super-block column of a group
inline constexpr size_t kQ4KQsAt = 128;          // offset of the chunks in a column

// 8 GGUF q4_K blocks (block of row r at blk + r * row_bytes) to one packed column, and back.
void PackQ4KColumn(const uint8_t* blk, size_t row_bytes, uint8_t* col);
void UnpackQ4KColumn(const uint8_t* col, size_t row_bytes, uint8_t* blk);

// MatMulRepacked for q4_K: the scalar twin, and the dispatching entry (SIMD on x86 with AVX2:
// AVX-512 tiles where the CPU has AVX512-VNNI, AVX2 tiles otherwise; the scalar twin elsewhere).
void MatMulRepackedQ4KScalar(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1);
void MatMulRepackedQ4K(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                       int64_t ldy, int64_t r0, int64_t r1);

// Whether the best Highway target of this CPU has SIMD x8 tiles for q4_K and q6_K (x86 with
// AVX2: the AVX2 tiles, or the AVX-512 ones where the CPU has AVX512-VNNI); elsewhere they would
// run the scalar twins, slower than the plain-row kernels, so CanRepack keeps them plain.
bool KQuantX8Tiles();

}  // namespace shoal::kernels::internal
