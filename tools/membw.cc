#include "membw.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "cli_common.h"

namespace shoal::cli {
namespace {

// Eight independent accumulators so the loads are not serialized on one add chain.
uint64_t SumWords(const uint64_t* p, size_t n) {
  uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) a[k] += p[i + k];
  }
  for (; i < n; ++i) a[0] += p[i];
  uint64_t s = 0;
  for (uint64_t x : a) s += x;
  return s;
}

}  // namespace

MemBandwidth MeasureReadBandwidth(size_t buffer_bytes, int n_threads, int reps) {
  n_threads = std::max(1, n_threads);
  const size_t n_words = std::max<size_t>(buffer_bytes / 8, 8 * static_cast<size_t>(n_threads));
  std::vector<uint64_t> buf(n_words);
  // Touch every page from the thread that will read it (first-touch NUMA placement).
  auto range = [&](int t, size_t* b, size_t* e) {
    *b = n_words * static_cast<size_t>(t) / static_cast<size_t>(n_threads);
    *e = n_words * static_cast<size_t>(t + 1) / static_cast<size_t>(n_threads);
  };
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < n_threads; ++t) {
      ts.emplace_back([&, t] {
        size_t b, e;
        range(t, &b, &e);
        for (size_t i = b; i < e; ++i) buf[i] = i;
      });
    }
    for (auto& th : ts) th.join();
  }
  std::atomic<uint64_t> sink{0};
  double best_ms = 1e300;
  for (int r = 0; r < std::max(1, reps); ++r) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < n_threads; ++t) {
      ts.emplace_back([&, t] {
        size_t b, e;
        range(t, &b, &e);
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) {
        }
        sink.fetch_add(SumWords(buf.data() + b, e - b), std::memory_order_relaxed);
      });
    }
    while (ready.load() < n_threads) {
    }
    const double t0 = NowMs();
    go.store(true, std::memory_order_release);
    for (auto& th : ts) th.join();
    best_ms = std::min(best_ms, NowMs() - t0);
  }
  MemBandwidth out;
  out.n_threads = n_threads;
  out.buffer_bytes = n_words * 8;
  out.read_gb_s = static_cast<double>(out.buffer_bytes) / (best_ms * 1e-3) / 1e9;
  return out;
}

}  // namespace shoal::cli
