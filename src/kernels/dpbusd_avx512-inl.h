// 512-bit helpers of the x8 tiles on AVX3 targets (CPUs with AVX512-VNNI): included inside a
// per-target namespace of matmul_repacked_avx512-inl.h, matmul_repacked_q4k.cc and
// matmul_repacked_q6k.cc, so it has no include guard and no includes of its own (they bring
// <cstring> and the intrinsics). vpdpbusd is emitted by inline assembly, as in
// dpbusd_avx2-inl.h.
// NOLINT(build/header_guard)

// acc += the int32 sums of 4 products u8 * s8 per lane (vpdpbusd).
HWY_INLINE __m512i DpbusdZ(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// The 4 bytes at p in every lane.
HWY_INLINE __m512i Bcast4Z(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// 32 bytes at p0 (low half) and at p1 (high half).
HWY_INLINE __m512i Load2x32(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)), 1);
}
