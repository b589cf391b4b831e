#include "comm/timed_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "comm/loopback/loopback.h"
#include "comm/test_util.h"

namespace shoal::comm {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// Every call reaches the wrapped group: the results are those of the plain collectives.
TEST(TimedGroup, ForwardsEveryCall) {
  auto raw = MakeLoopbackGroups(3);
  std::vector<std::atomic<int64_t>> ns(3);
  std::vector<std::unique_ptr<Group>> timed;
  for (int r = 0; r < 3; ++r) timed.push_back(std::make_unique<TimedGroup>(*raw[r], &ns[r]));
  auto st = testing::RunRanks(timed, [](Group& g) -> Status {
    const int r = g.rank();
    EXPECT_EQ(g.size(), 3);
    EXPECT_EQ(g.backend(), "loopback");
    std::vector<float> v(5, float(r + 1));
    SHOAL_RETURN_IF_ERROR(g.AllReduceSum(v.data(), v.size(), ElemType::kF32, Algorithm::kAuto));
    for (float x : v) EXPECT_EQ(x, 6.0f);
    uint32_t word = r == 0 ? 0xC0FFEEu : 0;
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&word, sizeof(word), 0));
    EXPECT_EQ(word, 0xC0FFEEu);
    const std::vector<size_t> sizes = {4, 8, 0};
    std::vector<uint8_t> mine(sizes[size_t(r)], uint8_t(10 + r)), all(12, 0);
    SHOAL_RETURN_IF_ERROR(g.GatherV(mine.data(), r == 0 ? all.data() : nullptr, sizes, 0));
    if (r == 0) {
      EXPECT_EQ(all, (std::vector<uint8_t>{10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11}));
    }
    std::vector<uint8_t> every(12, 0);
    SHOAL_RETURN_IF_ERROR(g.AllGatherV(mine.data(), every.data(), sizes));
    EXPECT_EQ(every[4], 11);
    if (r == 1) {
      const int64_t x = 42;
      SHOAL_RETURN_IF_ERROR(g.Send(2, &x, sizeof(x)));
    } else if (r == 2) {
      int64_t x = 0;
      SHOAL_RETURN_IF_ERROR(g.Recv(1, &x, sizeof(x)));
      EXPECT_EQ(x, 42);
    }
    return g.Barrier();
  });
  for (const Status& s : st) EXPECT_TRUE(s.ok()) << s.ToString();
  for (auto& n : ns) EXPECT_GT(n.load(), 0);
}

// A rank that waits for a slow peer counts the wait, and no more than the call's wall time
// measured around it.
TEST(TimedGroup, CountsTheWaitForASlowPeer) {
  auto raw = MakeLoopbackGroups(2);
  std::atomic<int64_t> ns0{0}, ns1{0};
  TimedGroup t0(*raw[0], &ns0), t1(*raw[1], &ns1);
  constexpr int kSleepMs = 60;
  int64_t wall0 = 0;
  std::thread slow([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(kSleepMs));
    float v = 1;
    EXPECT_TRUE(t1.AllReduceSum(&v, 1, ElemType::kF32, Algorithm::kAuto).ok());
  });
  const auto start = Clock::now();
  float v = 2;
  EXPECT_TRUE(t0.AllReduceSum(&v, 1, ElemType::kF32, Algorithm::kAuto).ok());
  wall0 = NsSince(start);
  slow.join();
  EXPECT_EQ(v, 3.0f);
  EXPECT_GE(ns0.load(), int64_t{kSleepMs - 10} * 1000000);
  EXPECT_LE(ns0.load(), wall0);
  EXPECT_LT(ns1.load(), ns0.load());  // the slow rank found its peer waiting
}

}  // namespace
}  // namespace shoal::comm
