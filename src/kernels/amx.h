// Intel AMX (Advanced Matrix Extensions) int8 tiles for the x8 batch matmuls (q4_0, q8_0, q4_K,
// q6_K; prompts, and server batches, of kAmxMinTokens tokens and more), on the CPUs and systems
// that have them: x86-64 with AMX-TILE and AMX-INT8 (Sapphire Rapids and later), on Linux, where
// the kernel grants a process the 8 KiB tile state only when asked (arch_prctl
// ARCH_REQ_XCOMP_PERM). Never required: every caller keeps its AVX path beside it, and the results
// are bit-identical either way (the tiles compute each block's integer dot exactly; the float steps
// after it are the AVX tiles' own).
#pragma once

#include <cstdint>

namespace shoal::kernels {

// Whether the AMX int8 tiles can run in this process: the CPU has them and the OS granted the
// tile state (asked once, on the first call).
bool AmxAvailable();
// Whether the kernels use them now: AmxAvailable(), unless turned off by SetAmx(false) or by the
// environment variable SHOAL_AMX=0 when the process started.
bool AmxEnabled();
// For tests and benchmarks: turn the tiles on or off (on only where available); returns the
// state set. Process-wide.
bool SetAmx(bool on);

// Fewest tokens for which the matmuls use the tiles: at 16 tokens the AVX-512 tiles are as fast
// (2048 x 2048, one thread, Sapphire Rapids class), from 32 on the tiles are 1.2-1.8x faster.
inline constexpr int64_t kAmxMinTokens = 32;

// For the int8 peak probe: `iters` x 4 tile products (16 x 16 int32 sums of 64 int8 products
// each, 16384 multiply-accumulates) on data already in the tiles, no memory traffic; returns a
// checksum. Requires AmxAvailable().
int64_t AmxPeakLoop(int64_t iters);

namespace internal {
// MatMulRepacked for q4_0 (q4 true) or q8_0 x8 weights (kernels/repack.h) on the AMX tiles, for
// rows [r0, r) where r is the largest r0 + 16 n <= r1 (pairs of x8 groups); returns r, and the
// caller computes rows [r, r1) (at most one group) itself. Requires AmxEnabled() and k % 32 == 0.
int64_t MatMulRepackedQ32Amx(bool q4, const void* Wp, int64_t k, const void* xq, int64_t n_tok,
                             float* y, int64_t ldy, int64_t r0, int64_t r1);
// The same for q4_K x8 weights (kernels/repack_q4k.h): activations q8_K, k % 256 == 0.
int64_t MatMulRepackedQ4KAmx(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1);
// And for q6_K x8 weights (kernels/repack_q6k.h).
int64_t MatMulRepackedQ6KAmx(const void* Wp, int64_t k, const void* xq, int64_t n_tok, float* y,
                             int64_t ldy, int64_t r0, int64_t r1);
}  // namespace internal

}  // namespace shoal::kernels
