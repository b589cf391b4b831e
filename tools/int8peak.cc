#include "int8peak.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "cli_common.h"
#include "kernels/amx.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#endif

namespace shoal::cli {
namespace {

constexpr int kAcc = 12;  // independent accumulators: covers the instructions' latency

// Inputs the compiler cannot see (so it cannot fold the loop).
volatile int8_t g_seed[64] = {3, -5, 7, 11, -13, 17, 19, -23};

// Each loop returns a checksum of its accumulators (kept, so nothing is dead) and runs
// `iters` x kAcc instructions. The bodies are inline assembly: compilers otherwise copy or spill
// the accumulators of such a loop (measured: GCC 12 stored every ymm accumulator each iteration).
#define SHOAL_ACC_OUT                                                                       \
  [x0] "+v"(x0), [x1] "+v"(x1), [x2] "+v"(x2), [x3] "+v"(x3), [x4] "+v"(x4), [x5] "+v"(x5), \
      [x6] "+v"(x6), [x7] "+v"(x7), [x8] "+v"(x8), [x9] "+v"(x9), [x10] "+v"(x10), [x11] "+v"(x11)
#define SHOAL_DP12(insn)                                                                         \
  insn " %[b], %[a], %[x0]\n\t" insn " %[b], %[a], %[x1]\n\t" insn " %[b], %[a], %[x2]\n\t" insn \
       " %[b], %[a], %[x3]\n\t" insn " %[b], %[a], %[x4]\n\t" insn " %[b], %[a], %[x5]\n\t" insn \
       " %[b], %[a], %[x6]\n\t" insn " %[b], %[a], %[x7]\n\t" insn " %[b], %[a], %[x8]\n\t" insn \
       " %[b], %[a], %[x9]\n\t" insn " %[b], %[a], %[x10]\n\t" insn " %[b], %[a], %[x11]\n\t"
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t LoopVnni512(int64_t iters) {
  alignas(64) int8_t s[64];
  for (int i = 0; i < 64; ++i) s[i] = g_seed[i % 8];
  const __m512i a = _mm512_load_si512(s), b = a;
  __m512i x0 = _mm512_setzero_si512(), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0,
          x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(SHOAL_DP12("vpdpbusd") : SHOAL_ACC_OUT : [a] "v"(a), [b] "v"(b));
  }
  alignas(64) int32_t o[16];
  const __m512i x[kAcc] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11};
  __m512i t = x[0];
  for (int k = 1; k < kAcc; ++k) t = _mm512_add_epi32(t, x[k]);
  _mm512_store_si512(o, t);
  return o[0] + o[15];
}

// vpdpbusd on ymm: the VEX encoding (AVX-VNNI) or the EVEX one (AVX512-VNNI with VL).
#define SHOAL_VNNI256_LOOP(insn)                                                             \
  alignas(32) int8_t s[32];                                                                  \
  for (int i = 0; i < 32; ++i) s[i] = g_seed[i % 8];                                         \
  const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s));                  \
  const __m256i b = a;                                                                       \
  __m256i x0 = _mm256_setzero_si256(), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, \
          x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;                                     \
  for (int64_t i = 0; i < iters; ++i) {                                                      \
    asm volatile(SHOAL_DP12(insn) : SHOAL_ACC_OUT : [a] "v"(a), [b] "v"(b));                 \
  }                                                                                          \
  const __m256i x[kAcc] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11};                \
  __m256i t = x[0];                                                                          \
  for (int k = 1; k < kAcc; ++k) t = _mm256_add_epi32(t, x[k]);                              \
  alignas(32) int32_t o[8];                                                                  \
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), t);                                      \
  return o[0] + o[7];

__attribute__((target("avx2,avxvnni"))) int64_t LoopAvxVnni(int64_t iters) {
  SHOAL_VNNI256_LOOP("%{vex%} vpdpbusd")
}

__attribute__((target("avx512f,avx512vl,avx512vnni"))) int64_t LoopVnni256Evex(int64_t iters) {
  SHOAL_VNNI256_LOOP("%{evex%} vpdpbusd")
}
#undef SHOAL_VNNI256_LOOP

// maddubs (u8 x s8 pairs summed into int16), madd with ones (pairs into int32), add: 32 products
// in three instructions; 12 chains + a, ones and a temporary fill AVX2's 16 registers.
__attribute__((target("avx2"))) int64_t LoopAvx2(int64_t iters) {
  alignas(32) int8_t s[32];
  for (int i = 0; i < 32; ++i) s[i] = g_seed[i % 8];
  const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i x0 = _mm256_setzero_si256(), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0,
          x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0, t = a;
#define SHOAL_AVX2_STEP(n)           \
  "vpmaddubsw %[a], %[a], %[t]\n\t"  \
  "vpmaddwd %[ones], %[t], %[t]\n\t" \
  "vpaddd %[t], %[x" #n "], %[x" #n "]\n\t"
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(SHOAL_AVX2_STEP(0) SHOAL_AVX2_STEP(1) SHOAL_AVX2_STEP(2) SHOAL_AVX2_STEP(3)
                     SHOAL_AVX2_STEP(4) SHOAL_AVX2_STEP(5) SHOAL_AVX2_STEP(6) SHOAL_AVX2_STEP(7)
                         SHOAL_AVX2_STEP(8) SHOAL_AVX2_STEP(9) SHOAL_AVX2_STEP(10)
                             SHOAL_AVX2_STEP(11)
                 : [x0] "+x"(x0), [x1] "+x"(x1), [x2] "+x"(x2), [x3] "+x"(x3), [x4] "+x"(x4),
                   [x5] "+x"(x5), [x6] "+x"(x6), [x7] "+x"(x7), [x8] "+x"(x8), [x9] "+x"(x9),
                   [x10] "+x"(x10), [x11] "+x"(x11), [t] "+x"(t)
                 : [a] "x"(a), [ones] "x"(ones));
  }
#undef SHOAL_AVX2_STEP
  alignas(32) int32_t o[8];
  const __m256i x[kAcc] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11};
  __m256i sum = x[0];
  for (int k = 1; k < kAcc; ++k) sum = _mm256_add_epi32(sum, x[k]);
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), sum);
  return o[0] + o[7];
}
#endif
#undef SHOAL_DP12
#undef SHOAL_ACC_OUT

#if defined(__ARM_FEATURE_DOTPROD)
int64_t LoopSdot(int64_t iters) {
  int8_t s[16];
  for (int i = 0; i < 16; ++i) s[i] = g_seed[i % 8];
  const int8x16_t a = vld1q_s8(s), b = a;
  int32x4_t acc[kAcc];
  for (auto& x : acc) x = vdupq_n_s32(0);
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : acc) x = vdotq_s32(x, a, b);
  }
  int32x4_t t = acc[0];
  for (int k = 1; k < kAcc; ++k) t = vaddq_s32(t, acc[k]);
  return vaddvq_s32(t);
}
#endif

// Plain C++ at the build's baseline ISA: 64 products per step into int32 sums, the activations'
// window sliding with the step so nothing is loop-invariant (whatever the compiler vectorizes).
int64_t LoopScalar(int64_t iters) {
  int8_t a[128], b[64];
  for (int i = 0; i < 128; ++i) a[i] = g_seed[i % 8];
  for (int i = 0; i < 64; ++i) b[i] = g_seed[(i + 3) % 8];
  int32_t acc[64] = {};
  for (int64_t i = 0; i < iters; ++i) {
    const int8_t* w = a + (i & 63);
    for (int k = 0; k < 64; ++k) acc[k] += int32_t(w[k]) * int32_t(b[k]);
  }
  int64_t s = 0;
  for (int32_t x : acc) s += x;
  return s;
}

struct Path {
  const char* name;
  double ops_per_iter;  // int8 operations per iteration (2 per multiply-accumulate)
  std::function<int64_t(int64_t)> loop;
};

std::vector<Path> Paths() {
  std::vector<Path> p;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vnni");
  if (avx512) p.push_back({"avx512_vnni_512", 2.0 * 64 * kAcc, LoopVnni512});
  if (__builtin_cpu_supports("avxvnni")) {
    p.push_back({"vnni_256", 2.0 * 32 * kAcc, LoopAvxVnni});
  } else if (avx512 && __builtin_cpu_supports("avx512vl")) {
    p.push_back({"vnni_256", 2.0 * 32 * kAcc, LoopVnni256Evex});
  }
  if (__builtin_cpu_supports("avx2")) p.push_back({"avx2_maddubs", 2.0 * 32 * kAcc, LoopAvx2});
#endif
#if defined(__ARM_FEATURE_DOTPROD)
  p.push_back({"neon_sdot", 2.0 * 16 * kAcc, LoopSdot});
#endif
  // AMX int8 tiles (kernels/amx.h), where the CPU and OS have them: 4 x 16384 per iteration.
  if (kernels::AmxAvailable()) p.push_back({"amx_int8", 2.0 * 16384 * 4, kernels::AmxPeakLoop});
  p.push_back({"scalar", 2.0 * 64, LoopScalar});
  return p;
}

std::atomic<int64_t> g_sink{0};

// Seconds for n_threads threads each running `iters` iterations at once.
double TimeThreads(const Path& p, int n_threads, int64_t iters) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < n_threads; ++t) {
    ts.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      g_sink.fetch_add(p.loop(iters), std::memory_order_relaxed);
    });
  }
  while (ready.load() < n_threads) {
  }
  const double t0 = NowMs();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  return (NowMs() - t0) * 1e-3;
}

}  // namespace

std::vector<Int8Peak> MeasureInt8Peak(const std::vector<int>& threads, int reps) {
  std::vector<Int8Peak> out;
  for (const Path& p : Paths()) {
    // About 50 ms per run on one thread.
    int64_t iters = 1 << 12;
    while (TimeThreads(p, 1, iters) < 0.01 && iters < (int64_t{1} << 34)) iters *= 4;
    for (int t : threads) {
      double best = 1e300;
      for (int r = 0; r < std::max(1, reps); ++r)
        best = std::min(best, TimeThreads(p, t, iters * 5));
      out.push_back({p.name, t, p.ops_per_iter * double(iters * 5) * t / best / 1e9});
    }
  }
  return out;
}

}  // namespace shoal::cli
