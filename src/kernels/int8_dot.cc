#include "kernels/int8_dot.h"

#include <atomic>

namespace shoal::kernels {
namespace {

Int8Dot Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avxvnni")) return Int8Dot::kAvxVnni;
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) {
    return Int8Dot::kAvx512Vnni;
  }
#endif
  return Int8Dot::kMaddubs;
}

std::atomic<int>& Current() {
  static std::atomic<int> path{static_cast<int>(BestInt8Dot())};
  return path;
}

}  // namespace

Int8Dot BestInt8Dot() {
  static const Int8Dot best = Detect();
  return best;
}

bool HasAvx512Vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
  }();
  return has;
#else
  return false;
#endif
}

namespace {
std::atomic<bool>& GridLoads() {
  static std::atomic<bool> on{[] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") != 0;
#else
    return false;
#endif
  }()};
  return on;
}
}  // namespace

bool GridByLoads() { return GridLoads().load(std::memory_order_relaxed); }
void SetGridByLoads(bool on) { GridLoads().store(on, std::memory_order_relaxed); }

Int8Dot Int8DotPath() { return static_cast<Int8Dot>(Current().load(std::memory_order_relaxed)); }

const char* Int8DotName(Int8Dot p) {
  switch (p) {
    case Int8Dot::kAvxVnni:
      return "avx_vnni";
    case Int8Dot::kAvx512Vnni:
      return "avx512_vnni";
    default:
      return "maddubs";
  }
}

Int8Dot SetInt8Dot(Int8Dot p) {
  const Int8Dot best = BestInt8Dot();
  // Either VNNI encoding runs only where the CPU has that one.
  if (p != Int8Dot::kMaddubs && p != best) {
#if defined(__x86_64__) || defined(__i386__)
    const bool ok = p == Int8Dot::kAvxVnni ? __builtin_cpu_supports("avxvnni")
                                           : __builtin_cpu_supports("avx512vnni") &&
                                                 __builtin_cpu_supports("avx512vl");
    if (!ok) p = best;
#else
    p = Int8Dot::kMaddubs;
#endif
  }
  Current().store(static_cast<int>(p), std::memory_order_relaxed);
  return p;
}

}  // namespace shoal::kernels
