#include "int8peak.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "cli_common.h"

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
// `iters` x kAcc instructions.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t LoopVnni512(int64_t iters) {
  alignas(64) int8_t s[64];
  for (int i = 0; i < 64; ++i) s[i] = g_seed[i % 8];
  const __m512i a = _mm512_load_si512(s), b = _mm512_load_si512(s);
  __m512i acc[kAcc];
  for (auto& x : acc) x = _mm512_setzero_si512();
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : acc) x = _mm512_dpbusd_epi32(x, a, b);
  }
  __m512i t = acc[0];
  for (int k = 1; k < kAcc; ++k) t = _mm512_add_epi32(t, acc[k]);
  alignas(64) int32_t o[16];
  _mm512_store_si512(o, t);
  return o[0] + o[15];
}

__attribute__((target("avxvnni"))) int64_t LoopAvxVnni(int64_t iters) {
  alignas(32) int8_t s[32];
  for (int i = 0; i < 32; ++i) s[i] = g_seed[i % 8];
  const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s)), b = a;
  __m256i acc[kAcc];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : acc) x = _mm256_dpbusd_avx_epi32(x, a, b);
  }
  __m256i t = acc[0];
  for (int k = 1; k < kAcc; ++k) t = _mm256_add_epi32(t, acc[k]);
  alignas(32) int32_t o[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), t);
  return o[0] + o[7];
}

__attribute__((target("avx512f,avx512vl,avx512vnni"))) int64_t LoopVnni256Evex(int64_t iters) {
  alignas(32) int8_t s[32];
  for (int i = 0; i < 32; ++i) s[i] = g_seed[i % 8];
  const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s)), b = a;
  __m256i acc[kAcc];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : acc) x = _mm256_dpbusd_epi32(x, a, b);
  }
  __m256i t = acc[0];
  for (int k = 1; k < kAcc; ++k) t = _mm256_add_epi32(t, acc[k]);
  alignas(32) int32_t o[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), t);
  return o[0] + o[7];
}

// maddubs (u8 x s8 pairs summed into int16), madd with ones (pairs into int32), add: 32 products
// in three instructions.
__attribute__((target("avx2"))) int64_t LoopAvx2(int64_t iters) {
  alignas(32) int8_t s[32];
  for (int i = 0; i < 32; ++i) s[i] = g_seed[i % 8];
  const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s)), b = a;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[kAcc];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : acc) {
      x = _mm256_add_epi32(x, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
    }
  }
  __m256i t = acc[0];
  for (int k = 1; k < kAcc; ++k) t = _mm256_add_epi32(t, acc[k]);
  alignas(32) int32_t o[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(o), t);
  return o[0] + o[7];
}
#endif

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

// Plain C++: 64 products per step into int32 sums (whatever the compiler makes of it).
int64_t LoopScalar(int64_t iters) {
  int8_t a[64];
  for (int i = 0; i < 64; ++i) a[i] = g_seed[i % 8];
  int32_t acc[64] = {};
  for (int64_t i = 0; i < iters; ++i) {
    for (int k = 0; k < 64; ++k) acc[k] += int32_t(a[k]) * int32_t(a[(k + 1) & 63]);
    a[i & 63] = int8_t(a[i & 63] + 1);  // a loop-carried change: the sums cannot be folded
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
