// vpdpbusd for the x86 int8 tiles (see int8_dot.h), one part of matmul_simd.cc and
// matmul_repacked.cc: included inside their per-target namespaces on x86 targets with AVX2 (no
// include guard, no includes of its own).
// NOLINT(build/header_guard)

// acc + the u8 x s8 dot of each 4-byte group (vpdpbusd), in the VEX (AVX-VNNI, kDot 1) or EVEX
// (AVX512-VNNI + VL, kDot 2) encoding. Inline assembly, so the instruction is emitted without
// compiling the target for it; it only runs where Int8DotPath() chose it.
template <int kDot>
HWY_INLINE __m256i Dpbusd(__m256i acc, __m256i u8, __m256i s8) {
  if constexpr (kDot == 1) {
    asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
  } else {
    asm("vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
  }
  return acc;
}
