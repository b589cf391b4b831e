// Elementwise and reduction kernels on float rows (Highway, dispatched once per call), each with
// a scalar twin in namespace scalar that the tests compare against. Rows may have any length n
// (no alignment or multiple-of-lanes requirement).
#pragma once

#include <cstdint>

namespace shoal::kernels {

float Dot(const float* a, const float* b, int64_t n);
void RmsNorm(const float* x, const float* w, float eps, float* y, int64_t n);  // y = x/rms(x)*w
void Axpy(float a, const float* x, float* y, int64_t n);                       // y += a*x
void Scale(float* x, float a, int64_t n);                                      // x *= a
void Add(const float* a, const float* b, float* y, int64_t n);                 // y = a+b
void SiluMul(const float* gate, const float* up, float* y, int64_t n);         // silu(g)*u
float SoftmaxInPlace(float* x, int64_t n);  // returns the max; stable (subtracts it first)
// log(sum_i exp(x_i)), stable (the max subtracted first), exp in float and the sum carried in
// double; -inf for n == 0 or a row of -inf. Terms more than 100 below the max count as exp(-100).
double LogSumExp(const float* x, int64_t n);
float DotF16(const uint16_t* a_f16, const float* b, int64_t n);
void AxpyF16(float a, const uint16_t* x_f16, float* y, int64_t n);  // y += a*x
void F32ToF16Row(const float* x, uint16_t* y, int64_t n);           // round to nearest even

namespace scalar {
float Dot(const float* a, const float* b, int64_t n);
void RmsNorm(const float* x, const float* w, float eps, float* y, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void Scale(float* x, float a, int64_t n);
void Add(const float* a, const float* b, float* y, int64_t n);
void SiluMul(const float* gate, const float* up, float* y, int64_t n);
float SoftmaxInPlace(float* x, int64_t n);
double LogSumExp(const float* x, int64_t n);  // exp and the sum in double
float DotF16(const uint16_t* a_f16, const float* b, int64_t n);
void AxpyF16(float a, const uint16_t* x_f16, float* y, int64_t n);
void F32ToF16Row(const float* x, uint16_t* y, int64_t n);
}  // namespace scalar

}  // namespace shoal::kernels
