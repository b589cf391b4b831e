// Helpers for the comm tests: run one function per rank on threads, reference sums in the
// documented orders, deterministic inputs.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "comm/group.h"
#include "comm/peer_group.h"
#include "comm/reduce.h"

namespace shoal::comm::testing {

// Runs fn(group) for every group on its own thread; returns each rank's Status.
inline std::vector<Status> RunRanks(std::vector<std::unique_ptr<Group>>& groups,
                                    const std::function<Status(Group&)>& fn) {
  std::vector<Status> out(groups.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < groups.size(); ++r) {
    threads.emplace_back([&, r] { out[r] = fn(*groups[r]); });
  }
  for (auto& t : threads) t.join();
  return out;
}

// Values of mixed signs and magnitudes (so the order of additions shows in the last bits).
inline std::vector<float> InputF32(int rank, size_t count) {
  std::vector<float> v(count);
  uint64_t s = 0x9E3779B97F4A7C15ull * (rank + 1);
  for (size_t i = 0; i < count; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5;
    v[i] = static_cast<float>(std::ldexp(u, static_cast<int>((s >> 3) % 24) - 12));
  }
  return v;
}

inline std::vector<uint16_t> InputBF16(int rank, size_t count) {
  std::vector<float> f = InputF32(rank, count);
  std::vector<uint16_t> v(count);
  BF16FromF32(f.data(), count, v.data());
  return v;
}

// The sum PeerGroup computes for element i: Direct folds ranks 0..n-1; Ring folds chunk c's
// element from rank c around the ring to rank c-1.
inline float RefSum(const std::vector<std::vector<float>>& in, size_t count, size_t i,
                    Algorithm algo) {
  const int n = static_cast<int>(in.size());
  int start = 0;
  if (algo == Algorithm::kRing && n > 1) {
    int c = 0;
    while (ChunkBegin(count, n, c + 1) <= i) ++c;
    start = c;
  }
  float acc = in[start][i];
  for (int k = 1; k < n; ++k) acc += in[(start + k) % n][i];
  return acc;
}

// Group::SetIoTimeoutMs on ranks 0 and 1 of `groups`, built with an I/O timeout of base_ms: with
// the limit off (0) rank 1's Recv waits three times that for a late rank 0 and completes with
// its bytes; with the limit back on, a Recv from a silent rank 0 fails within about base_ms.
inline void ExpectIoTimeoutCanBeLifted(std::vector<std::unique_ptr<Group>>& groups, int base_ms) {
  ASSERT_GE(groups.size(), 2u);
  ASSERT_TRUE(groups[0] && groups[1]);
  using Clock = std::chrono::steady_clock;
  groups[1]->SetIoTimeoutMs(0);
  const uint32_t sent = 0xC0FFEE;
  uint32_t got = 0;
  Status send_status, recv_status;
  const auto t0 = Clock::now();
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(3 * base_ms));
    send_status = groups[0]->Send(1, &sent, sizeof sent);
  });
  recv_status = groups[1]->Recv(0, &got, sizeof got);
  late.join();
  ASSERT_TRUE(send_status.ok()) << send_status.ToString();
  ASSERT_TRUE(recv_status.ok()) << recv_status.ToString();
  EXPECT_EQ(got, sent);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(3 * base_ms));

  groups[1]->SetIoTimeoutMs(base_ms);
  const auto t1 = Clock::now();
  const Status silent = groups[1]->Recv(0, &got, sizeof got);
  const auto took = Clock::now() - t1;
  EXPECT_EQ(silent.code(), StatusCode::kUnavailable) << silent.ToString();
  EXPECT_NE(silent.message().find("rank 0"), std::string::npos) << silent.ToString();
  EXPECT_GE(took, std::chrono::milliseconds(base_ms - 10));
  EXPECT_LT(took, std::chrono::milliseconds(base_ms + 2000));
}

}  // namespace shoal::comm::testing
