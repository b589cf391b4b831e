// Internal: the codebooks of the GGUF i-quant formats and MXFP4 (data that defines the formats;
// the large grids are generated into iquant_grids.cc by scripts/compare/gen_iquant_grids.py).
#pragma once

#include <cstdint>

namespace shoal::kernels {

// 8 magnitudes per entry (byte j = value j): {8, 25, 43} for iq2, 4 per entry for iq3.
extern const uint64_t kIQ2XXSGrid[256];
extern const uint64_t kIQ2XSGrid[512];
extern const uint64_t kIQ2SGrid[1024];
extern const uint32_t kIQ3XXSGrid[256];
extern const uint32_t kIQ3SGrid[512];
// 8 signed values in {-1, 0, 1} per entry (byte j = value j as int8).
extern const uint64_t kIQ1SGrid[2048];

// The non-linear 4-bit codebook of iq4_nl / iq4_xs (ascending).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
// FP4 (E2M1) values doubled, for MXFP4: index bit 3 is the sign.
inline constexpr int8_t kMXFP4Values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

// The 8 sign bits of a group of 8 values from its 7 stored bits: the 8th makes the number of
// minus signs even.
inline uint8_t SignsFrom7(uint32_t s7) {
  s7 &= 127;
  return static_cast<uint8_t>(s7 | ((__builtin_popcount(s7) & 1) << 7));
}

// Byte j of a grid entry.
inline int GridByte(uint64_t entry, int j) { return static_cast<int>((entry >> (8 * j)) & 0xFF); }

}  // namespace shoal::kernels
