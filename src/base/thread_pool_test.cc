#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "base/sysinfo.h"

namespace shoal {
namespace {

TEST(ThreadPool, EveryIndexRunsExactlyOnceManyRounds) {
  for (int n = 1; n <= 4; ++n) {
    ThreadPool pool(n);
    ASSERT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits(n);
    for (int round = 0; round < 1000; ++round) {
      for (auto& h : hits) h.store(0);
      pool.Run([&](int i, int nt) {
        ASSERT_EQ(nt, n);
        hits[i].fetch_add(1);
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " round " << round;
    }
  }
}

TEST(ThreadPool, CallerIsThreadZero) {
  ThreadPool pool(3);
  const auto caller = std::this_thread::get_id();
  std::thread::id seen[3];
  pool.Run([&](int i, int) { seen[i] = std::this_thread::get_id(); });
  EXPECT_TRUE(seen[0] == caller);
  EXPECT_TRUE(seen[1] != caller);
  EXPECT_TRUE(seen[2] != caller);
  EXPECT_TRUE(seen[1] != seen[2]);
}

TEST(ThreadPool, SurvivesSleepBetweenRuns) {
  ThreadPool pool(4);
  std::atomic<int> sum{0};
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // workers fall asleep
    pool.Run([&](int i, int) { sum.fetch_add(i + 1); });
  }
  EXPECT_EQ(sum.load(), 5 * (1 + 2 + 3 + 4));
}

TEST(ThreadPool, ChunkCoversRangeOnce) {
  for (int n_threads = 1; n_threads <= 5; ++n_threads) {
    for (int64_t n : {0, 1, 7, 64, 100, 1000}) {
      for (int64_t grain : {1, 4, 32}) {
        std::vector<int> cover(n, 0);
        int64_t prev_end = 0;
        for (int t = 0; t < n_threads; ++t) {
          int64_t b, e;
          ThreadPool::Chunk(n, grain, t, n_threads, &b, &e);
          EXPECT_EQ(b, prev_end);
          if (e < n) {
            EXPECT_EQ(e % grain, 0);
          }
          for (int64_t i = b; i < e; ++i) cover[i]++;
          prev_end = e;
        }
        EXPECT_EQ(prev_end, n);
        for (int c : cover) EXPECT_EQ(c, 1);
      }
    }
  }
}

TEST(SysInfo, MemoryAndCpu) {
  const uint64_t total = TotalMemoryBytes(), avail = AvailableMemoryBytes();
#if defined(__linux__) || defined(__APPLE__)
  EXPECT_GT(total, uint64_t{64} << 20);
  EXPECT_GT(avail, 0u);
  EXPECT_LE(avail, total);
#endif
  EXPECT_FALSE(CpuName().empty());
}

}  // namespace
}  // namespace shoal
