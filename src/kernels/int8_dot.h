// Which instruction the x86 int8 tiles use for their dot products, chosen once at run time from
// the CPU: AVX2's maddubs + madd pair (every AVX2 CPU), or one vpdpbusd (u8 x s8, four products
// summed into each int32 lane) in its AVX-VNNI (VEX) or AVX512-VNNI (EVEX, with AVX512-VL)
// encoding. The integer results are the same on every path.
#pragma once

namespace shoal::kernels {

enum class Int8Dot { kMaddubs = 0, kAvxVnni = 1, kAvx512Vnni = 2 };

Int8Dot BestInt8Dot();               // what this CPU offers (kMaddubs off x86)
Int8Dot Int8DotPath();               // what the kernels use now
const char* Int8DotName(Int8Dot p);  // "maddubs", "avx_vnni", "avx512_vnni"
// Whether the CPU has AVX512-VNNI with AVX512-VL and -BW (512-bit vpdpbusd), whichever path is
// chosen: the AVX3 batch tiles of the x8 matmul use it in 512-bit registers.
bool HasAvx512Vnni();
// For tests and benchmarks: use p (clamped to what the CPU offers); returns the path set.
Int8Dot SetInt8Dot(Int8Dot p);

// How the 512-bit iq2_xxs tiles fetch their 8 grid entries per 64 values: one vpgatherdq, or 8
// scalar loads assembled in registers. Measured per vendor (docs/kernels.md): loads are faster
// on AMD Zen 5 (decode 1.5x), the gather on Intel Sapphire Rapids (loads 0.89x). Chosen once
// from the CPU vendor; tests switch it to check both.
bool GridByLoads();
void SetGridByLoads(bool on);

}  // namespace shoal::kernels
