// Internal: the i-quants (iq1_s .. iq4_xs) and MXFP4, decoded from their GGUF definitions.
// Two forms of one block: floats (dequantization, written in the format's own arithmetic), and
// integers for the dot products: value i = d * sc[i / group_len] * v[i] with int8 v and integer
// group scales (the half-integer scales of iq2/iq3/iq1 doubled, iq1's +-1/8 delta folded into v
// as 8 * grid +- 1), so a block dots with int8 activations in integer arithmetic.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace shoal::kernels {

// True for the types this file decodes (the i-quants and MXFP4).
bool IsIQuant(DType t);

// Dequantizes one block of type t (32 or 256 values).
void DequantizeIQBlock(DType t, const uint8_t* block, float* y);

struct IntBlock {
  int8_t v[256];
  int32_t sc[16];
  int groups, group_len;  // groups * group_len = values per block
  float d;
};
void UnpackIQBlock(DType t, const uint8_t* block, IntBlock* u);

// Round-to-nearest quantizers of iq4_nl / iq4_xs (per-block scale search over the codebook).
void QuantizeIQ4NL(const float* x, uint8_t* block);  // 32 values
void QuantizeIQ4XS(const float* x, uint8_t* block);  // 256 values
// iq2_xxs: grid entries by scale search (iquant_quantize_grid.cc).
void QuantizeIQ2XXS(const float* x, uint8_t* block);  // 256 values

}  // namespace shoal::kernels
