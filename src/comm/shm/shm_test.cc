// shm backend: ranks as threads, and as forked processes (real IPC, dead and stopped peers).
#include "comm/shm/shm.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "comm/test_util.h"

namespace shoal::comm::shm {
namespace {

using comm::testing::InputF32;
using comm::testing::RefSum;
using comm::testing::RunRanks;

Options Opts(int io_timeout_ms = 5000) {
  Options o;
  o.io_timeout_ms = io_timeout_ms;
  return o;
}

std::vector<std::unique_ptr<Group>> MakeShmGroups(int n, const Options& o) {
  const std::string name = UniqueName();
  std::vector<std::unique_ptr<Group>> groups(n);
  std::vector<std::thread> threads;
  for (int r = 1; r < n; ++r) {
    threads.emplace_back([&, r] {
      auto g = Attach(name, r, o);
      EXPECT_TRUE(g.ok()) << g.status().ToString();
      if (g.ok()) groups[r] = std::move(*g);
    });
  }
  auto g = Create(name, n, o);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  if (g.ok()) groups[0] = std::move(*g);
  for (auto& t : threads) t.join();
  return groups;
}

TEST(Shm, ThreadsAllReduceMatchesReference) {
  for (int n : {1, 2, 3, 4}) {
    auto groups = MakeShmGroups(n, Opts());
    ASSERT_TRUE(groups[0] && groups[n - 1]);
    EXPECT_EQ(groups[0]->backend(), "shm");
    for (size_t count : {size_t{7}, size_t{7168}, size_t{1} << 20}) {
      for (Algorithm algo : {Algorithm::kDirect, Algorithm::kRing}) {
        std::vector<std::vector<float>> in(n), out(n);
        for (int r = 0; r < n; ++r) in[r] = out[r] = InputF32(r, count);
        auto st = RunRanks(groups, [&](Group& g) {
          SHOAL_RETURN_IF_ERROR(g.AllReduceSum(out[g.rank()].data(), count, ElemType::kF32, algo));
          return g.Barrier();
        });
        for (int r = 0; r < n; ++r) {
          ASSERT_TRUE(st[r].ok()) << st[r].ToString();
          ASSERT_EQ(0, std::memcmp(out[r].data(), out[0].data(), count * 4));
        }
        for (size_t i = 0; i < count; i += 31) {
          const float want = RefSum(in, count, i, algo);
          ASSERT_EQ(0, std::memcmp(&want, &out[0][i], 4)) << "n=" << n << " i=" << i;
        }
      }
    }
  }
}

// Forks ranks 1..n-1 running `child(group)` (exit code 0 = ok); this process is rank 0.
std::vector<pid_t> ForkRanks(const std::string& name, int n, const Options& o,
                             const std::function<int(Group&)>& child) {
  std::vector<pid_t> pids;
  for (int r = 1; r < n; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      auto g = Attach(name, r, o);
      _exit(g.ok() ? child(**g) : 90);
    }
    pids.push_back(pid);
  }
  return pids;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(Shm, ForkedProcessesAllReduceBitIdentical) {
  const int n = 3;
  const size_t count = 7168;
  std::vector<std::vector<float>> in(n);
  for (int r = 0; r < n; ++r) in[r] = InputF32(r, count);
  std::vector<float> want(count);
  for (size_t i = 0; i < count; ++i) want[i] = RefSum(in, count, i, Algorithm::kDirect);
  const std::string name = UniqueName();
  auto pids = ForkRanks(name, n, Opts(), [&](Group& g) {
    for (int k = 0; k < 20; ++k) {
      std::vector<float> v = in[g.rank()];
      if (!g.AllReduceSum(v.data(), count, ElemType::kF32, Algorithm::kDirect).ok()) return 1;
      if (std::memcmp(v.data(), want.data(), count * 4) != 0) return 2;
    }
    return 0;
  });
  auto g = Create(name, n, Opts());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  for (int k = 0; k < 20; ++k) {
    std::vector<float> v = in[0];
    ASSERT_TRUE((*g)->AllReduceSum(v.data(), count, ElemType::kF32, Algorithm::kDirect).ok());
    ASSERT_EQ(0, std::memcmp(v.data(), want.data(), count * 4));
  }
  for (pid_t p : pids) EXPECT_EQ(WaitExit(p), 0);
}

TEST(ShmBadPeers, DeadProcessIsReportedBeforeTheTimeout) {
  const std::string name = UniqueName();
  auto pids = ForkRanks(name, 2, Opts(20000), [](Group&) { return 0; });  // attaches, exits
  auto g = Create(name, 2, Opts(20000));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::vector<float> v(7168, 1.0f);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = (*g)->AllReduceSum(v.data(), v.size(), ElemType::kF32);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("rank 1 (pid"), std::string::npos) << s.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(WaitExit(pids[0]), 0);
}

TEST(ShmBadPeers, StoppedProcessIsReportedWithinTheTimeout) {
  const std::string name = UniqueName();
  auto pids = ForkRanks(name, 2, Opts(1000), [](Group& g) {
    pause();  // never calls a collective; the parent stops it anyway
    return 0;
  });
  auto g = Create(name, 2, Opts(1000));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  kill(pids[0], SIGSTOP);
  std::vector<float> v(7168, 1.0f);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = (*g)->AllReduceSum(v.data(), v.size(), ElemType::kF32);
  const auto took = std::chrono::steady_clock::now() - t0;
  kill(pids[0], SIGKILL);
  WaitExit(pids[0]);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("rank 1"), std::string::npos) << s.ToString();
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
}

TEST(ShmBadPeers, PeerLeavingMidCollectiveAndBadArguments) {
  auto groups = MakeShmGroups(2, Opts(10000));
  ASSERT_TRUE(groups[0] && groups[1]);
  groups[1].reset();
  std::vector<float> v(1 << 20, 1.0f);
  Status s = groups[0]->AllReduceSum(v.data(), v.size(), ElemType::kF32);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();

  EXPECT_EQ(Create("no-slash", 2, Opts()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Create(UniqueName(), 0, Opts()).status().code(), StatusCode::kInvalidArgument);
  auto a = Attach(UniqueName(), 1, Opts(200));
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable) << a.status().ToString();
  const std::string name = UniqueName();
  std::thread t([&] { EXPECT_FALSE(Attach(name, 5, Opts(1000)).ok()); });
  auto c = Create(name, 2, Opts(300));  // rank 5 does not exist: nobody completes the group
  t.join();
  EXPECT_FALSE(c.ok());
}

TEST(Shm, SetIoTimeoutMsLiftsAndRestoresTheLimit) {
  auto groups = MakeShmGroups(2, Opts(300));
  comm::testing::ExpectIoTimeoutCanBeLifted(groups, 300);
}

}  // namespace
}  // namespace shoal::comm::shm
