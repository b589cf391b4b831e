// Helpers for the comm tests: run one function per rank on threads, reference sums in the
// documented orders, deterministic inputs.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace shoal::comm::testing
