#include "int8_peak.h"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <thread>
#include <vector>

#include "kernels/int8_dot.h"

namespace shoal::bench {
namespace {

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

#if defined(__x86_64__)
// 12 independent accumulators (vpdpbusd latency 5, 2 per cycle on cores with two 512-bit ports:
// 10 in flight keep both busy), `iters` rounds of 12 instructions.
__attribute__((target("avx512f"))) void LoopZmm(int64_t iters) {
  asm volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovdqa64 %%zmm0, %%zmm1\n\tvmovdqa64 %%zmm0, %%zmm2\n\tvmovdqa64 %%zmm0, %%zmm3\n\t"
      "vmovdqa64 %%zmm0, %%zmm4\n\tvmovdqa64 %%zmm0, %%zmm5\n\tvmovdqa64 %%zmm0, %%zmm6\n\t"
      "vmovdqa64 %%zmm0, %%zmm7\n\tvmovdqa64 %%zmm0, %%zmm8\n\tvmovdqa64 %%zmm0, %%zmm9\n\t"
      "vmovdqa64 %%zmm0, %%zmm10\n\tvmovdqa64 %%zmm0, %%zmm11\n\t"
      "vpternlogd $0xff, %%zmm12, %%zmm12, %%zmm12\n\t"
      "vpternlogd $0xff, %%zmm13, %%zmm13, %%zmm13\n\t"
      "1:\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm0\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm1\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm2\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm3\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm4\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm5\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm6\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm7\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm8\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm9\n\t"
      "vpdpbusd %%zmm12, %%zmm13, %%zmm10\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm11\n\t"
      "dec %0\n\tjnz 1b\n\t"
      "vzeroupper"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "cc");
}

// The same in ymm registers, VEX encoding (AVX-VNNI).
__attribute__((target("avx2"))) void LoopYmm(int64_t iters) {
  asm volatile(
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
      "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\tvmovdqa %%ymm0, %%ymm3\n\t"
      "vmovdqa %%ymm0, %%ymm4\n\tvmovdqa %%ymm0, %%ymm5\n\tvmovdqa %%ymm0, %%ymm6\n\t"
      "vmovdqa %%ymm0, %%ymm7\n\tvmovdqa %%ymm0, %%ymm8\n\tvmovdqa %%ymm0, %%ymm9\n\t"
      "vmovdqa %%ymm0, %%ymm10\n\tvmovdqa %%ymm0, %%ymm11\n\t"
      "vpcmpeqb %%ymm12, %%ymm12, %%ymm12\n\tvpcmpeqb %%ymm13, %%ymm13, %%ymm13\n\t"
      "1:\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm0\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm1\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm2\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm3\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm4\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm5\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm6\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm7\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm8\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm9\n\t"
      "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm10\n\t%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm11\n\t"
      "dec %0\n\tjnz 1b\n\t"
      "vzeroupper"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "cc");
}
#endif

// One thread: rounds of the loop until `seconds` of CPU time; int8 ops per second.
double RunOne(bool zmm, double seconds) {
#if defined(__x86_64__)
  const int64_t iters = 1 << 20;
  const double ops_per_iter = 12.0 * (zmm ? 64 : 32) * 2;
  double best = 0;
  const double end = CpuNow() + seconds;
  while (CpuNow() < end) {
    const double c0 = CpuNow();
    zmm ? LoopZmm(iters) : LoopYmm(iters);
    const double dt = CpuNow() - c0;
    if (dt > 0) best = std::max(best, ops_per_iter * static_cast<double>(iters) / dt);
  }
  return best;
#else
  (void)zmm;
  (void)seconds;
  return 0;
#endif
}

}  // namespace

Int8Peak MeasureInt8Peak(int n_threads, double seconds) {
  Int8Peak p;
  p.n_threads = std::max(1, n_threads);
  bool zmm = false;
  if (kernels::HasAvx512Vnni()) {
    zmm = true;
    p.isa = "avx512_vnni zmm";
  } else if (kernels::BestInt8Dot() == kernels::Int8Dot::kAvxVnni) {
    p.isa = "avx_vnni ymm";
  } else {
    return p;
  }
  std::vector<double> rates(p.n_threads);
  std::vector<std::thread> threads;
  for (int i = 0; i < p.n_threads; ++i) {
    threads.emplace_back([&, i] { rates[i] = RunOne(zmm, seconds); });
  }
  for (auto& t : threads) t.join();
  std::sort(rates.begin(), rates.end());
  p.gops = rates[rates.size() / 2] / 1e9;
  return p;
}

}  // namespace shoal::bench
