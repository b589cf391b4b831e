// Conversion between float32 and every computable tensor type, row by row. The layouts are
// bit-exact with GGUF's blocks. Each function has a scalar twin in namespace scalar that the SIMD
// version is tested against.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace shoal::kernels {

// dst[0..n) = values of the n-value row at src. n is a multiple of the block size.
void DequantizeRow(DType t, const void* src, float* dst, int64_t n);
// Quantizes n floats into blocks of type t (round-to-nearest style quantizer; for weights written
// by gen-model and for activations). Types that cannot be produced return false.
bool QuantizeRow(DType t, const float* src, void* dst, int64_t n);

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);
float BF16ToF32(uint16_t h);
uint16_t F32ToBF16(float f);  // round to nearest even

namespace scalar {
void DequantizeRow(DType t, const void* src, float* dst, int64_t n);
bool QuantizeRow(DType t, const float* src, void* dst, int64_t n);
}  // namespace scalar

}  // namespace shoal::kernels
