#include "comm/loopback/loopback.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "comm/test_util.h"

namespace shoal::comm {
namespace {

using testing::InputBF16;
using testing::InputF32;
using testing::RefSum;
using testing::RunRanks;

struct Case {
  int n;
  size_t count;
  Algorithm algo;
};

// The full matrix: ranks 1..8 x sizes x algorithms x f32/bf16, against the scalar reference
// in the algorithm's documented order, bitwise, on every rank.
TEST(LoopbackAllReduce, MatchesOrderedScalarSumOnEveryRank) {
  for (int n = 1; n <= 8; ++n) {
    for (size_t count : {size_t{1}, size_t{7}, size_t{4096}, size_t{7168}, size_t{1} << 20}) {
      for (Algorithm algo : {Algorithm::kAuto, Algorithm::kDirect, Algorithm::kRing}) {
        auto groups = MakeLoopbackGroups(n);
        std::vector<std::vector<float>> in32(n), out32(n);
        std::vector<std::vector<uint16_t>> in16(n), out16(n);
        std::vector<std::vector<float>> in16_as_f32(n);
        for (int r = 0; r < n; ++r) {
          in32[r] = out32[r] = InputF32(r, count);
          in16[r] = out16[r] = InputBF16(r, count);
          in16_as_f32[r].resize(count);
          F32FromBF16(in16[r].data(), count, in16_as_f32[r].data());
        }
        auto st = RunRanks(groups, [&](Group& g) {
          SHOAL_RETURN_IF_ERROR(
              g.AllReduceSum(out32[g.rank()].data(), count, ElemType::kF32, algo));
          return g.AllReduceSum(out16[g.rank()].data(), count, ElemType::kBF16, algo);
        });
        const Algorithm used32 = algo == Algorithm::kAuto ? ChooseAllReduce(count * 4, n) : algo;
        const Algorithm used16 = algo == Algorithm::kAuto ? ChooseAllReduce(count * 2, n) : algo;
        for (int r = 0; r < n; ++r) {
          ASSERT_TRUE(st[r].ok()) << st[r].ToString();
          ASSERT_EQ(0, std::memcmp(out32[r].data(), out32[0].data(), count * 4)) << "rank " << r;
          ASSERT_EQ(0, std::memcmp(out16[r].data(), out16[0].data(), count * 2)) << "rank " << r;
        }
        for (size_t i = 0; i < count; ++i) {
          const float want32 = RefSum(in32, count, i, used32);
          const uint16_t want16 = BF16FromF32(RefSum(in16_as_f32, count, i, used16));
          ASSERT_EQ(0, std::memcmp(&want32, &out32[0][i], 4))
              << "n=" << n << " count=" << count << " i=" << i << " " << want32 << " vs "
              << out32[0][i];
          ASSERT_EQ(want16, out16[0][i]) << "n=" << n << " count=" << count << " i=" << i;
        }
      }
    }
  }
}

TEST(LoopbackAllReduce, RepeatedCallsAreDeterministic) {
  const int n = 4;
  const size_t count = 7168;
  std::vector<float> first;
  for (int rep = 0; rep < 3; ++rep) {
    auto groups = MakeLoopbackGroups(n);
    std::vector<std::vector<float>> v(n);
    for (int r = 0; r < n; ++r) v[r] = InputF32(r, count);
    auto st = RunRanks(groups, [&](Group& g) {
      for (int k = 0; k < 5; ++k) {
        SHOAL_RETURN_IF_ERROR(g.AllReduceSum(v[g.rank()].data(), count, ElemType::kF32));
      }
      return Status::Ok();
    });
    for (auto& s : st) ASSERT_TRUE(s.ok()) << s.ToString();
    if (rep == 0) first = v[0];
    ASSERT_EQ(0, std::memcmp(first.data(), v[0].data(), count * 4));
  }
}

TEST(LoopbackGather, AllGatherVAndGatherVWithUnevenAndZeroSizes) {
  for (int n = 1; n <= 5; ++n) {
    std::vector<size_t> sizes(n);
    for (int r = 0; r < n; ++r) sizes[r] = (r % 3 == 1) ? 0 : 3 + 5 * r;
    const size_t total = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
    std::vector<uint8_t> want;
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < sizes[r]; ++i) want.push_back(static_cast<uint8_t>(r * 31 + i));
    }
    auto groups = MakeLoopbackGroups(n);
    std::vector<std::vector<uint8_t>> all(n, std::vector<uint8_t>(total)),
        root_out(n, std::vector<uint8_t>(total)), aliased(n, std::vector<uint8_t>(total));
    const int root = n - 1;
    auto st = RunRanks(groups, [&](Group& g) {
      const int r = g.rank();
      size_t off = 0;
      for (int k = 0; k < r; ++k) off += sizes[k];
      std::vector<uint8_t> in(want.begin() + off, want.begin() + off + sizes[r]);
      SHOAL_RETURN_IF_ERROR(g.AllGatherV(in.data(), all[r].data(), sizes));
      SHOAL_RETURN_IF_ERROR(
          g.GatherV(in.data(), r == root ? root_out[r].data() : nullptr, sizes, root));
      // in aliasing its own place in out
      std::memcpy(aliased[r].data() + off, in.data(), sizes[r]);
      return g.AllGatherV(aliased[r].data() + off, aliased[r].data(), sizes);
    });
    for (int r = 0; r < n; ++r) {
      ASSERT_TRUE(st[r].ok()) << st[r].ToString();
      EXPECT_EQ(all[r], want) << "n=" << n << " rank " << r;
      EXPECT_EQ(aliased[r], want) << "n=" << n << " rank " << r;
    }
    EXPECT_EQ(root_out[root], want);
  }
}

TEST(LoopbackMisc, BroadcastBarrierSendRecv) {
  const int n = 4;
  auto groups = MakeLoopbackGroups(n);
  std::vector<std::vector<int>> b(n, std::vector<int>(1000));
  std::vector<int> ring_got(n, -1);
  auto st = RunRanks(groups, [&](Group& g) {
    const int r = g.rank();
    if (r == 2) std::iota(b[r].begin(), b[r].end(), 7);
    SHOAL_RETURN_IF_ERROR(g.Broadcast(b[r].data(), b[r].size() * sizeof(int), 2));
    SHOAL_RETURN_IF_ERROR(g.Barrier());
    // Each rank sends to the next; even ranks send first so nothing waits on itself.
    const int next = (r + 1) % n, prev = (r + n - 1) % n;
    int mine = 100 + r;
    if (r % 2 == 0) {
      SHOAL_RETURN_IF_ERROR(g.Send(next, &mine, sizeof mine));
      SHOAL_RETURN_IF_ERROR(g.Recv(prev, &ring_got[r], sizeof(int)));
    } else {
      SHOAL_RETURN_IF_ERROR(g.Recv(prev, &ring_got[r], sizeof(int)));
      SHOAL_RETURN_IF_ERROR(g.Send(next, &mine, sizeof mine));
    }
    return g.Barrier();
  });
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(st[r].ok()) << st[r].ToString();
    EXPECT_EQ(b[r][0], 7);
    EXPECT_EQ(b[r][999], 1006);
    EXPECT_EQ(ring_got[r], 100 + (r + n - 1) % n);
  }
  EXPECT_EQ(groups[0]->backend(), "loopback");
  EXPECT_EQ(groups[0]->size(), n);
}

TEST(LoopbackErrors, BadArgumentsAreErrorsNotCrashes) {
  auto groups = MakeLoopbackGroups(2);
  Group& g = *groups[0];
  int x = 0;
  EXPECT_EQ(g.Send(5, &x, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g.Send(0, &x, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g.Recv(-1, &x, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g.Broadcast(&x, 4, 2).code(), StatusCode::kInvalidArgument);
  const size_t sizes[3] = {1, 1, 1};
  EXPECT_EQ(g.AllGatherV(&x, &x, sizes).code(), StatusCode::kInvalidArgument);
}

TEST(LoopbackErrors, MismatchedSizeCollectiveAndSilentAndGonePeers) {
  {  // sizes differ: the receiver says so, naming the peer
    auto groups = MakeLoopbackGroups(2, 2000);
    auto st = RunRanks(groups, [&](Group& g) {
      std::vector<float> v(g.rank() == 0 ? 8 : 16);
      return g.AllReduceSum(v.data(), v.size(), ElemType::kF32, Algorithm::kDirect);
    });
    EXPECT_EQ(st[1].code(), StatusCode::kCorrupt) << st[1].ToString();
    EXPECT_NE(st[1].message().find("rank 0"), std::string::npos) << st[1].ToString();
  }
  {  // different collectives
    auto groups = MakeLoopbackGroups(2, 1000);
    auto st = RunRanks(groups, [&](Group& g) {
      int v = 1;
      return g.rank() == 0 ? g.Broadcast(&v, 4, 0) : g.Recv(0, &v, 4);
    });
    EXPECT_EQ(st[1].code(), StatusCode::kCorrupt) << st[1].ToString();
  }
  {  // a rank that never calls: the other times out, naming it
    auto groups = MakeLoopbackGroups(2, 300);
    float v[4] = {};
    Status s = groups[0]->AllReduceSum(v, 4, ElemType::kF32);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("rank 1"), std::string::npos) << s.ToString();
    // the group is unusable afterwards
    EXPECT_FALSE(groups[0]->Barrier().ok());
  }
  {  // a rank that left: reported at once, not after the timeout
    auto groups = MakeLoopbackGroups(2, 20000);
    groups[1].reset();
    float v[4] = {};
    Status s = groups[0]->AllReduceSum(v, 4, ElemType::kF32);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("left"), std::string::npos) << s.ToString();
  }
}

TEST(LoopbackTimeout, SetIoTimeoutMsLiftsAndRestoresTheLimit) {
  auto groups = MakeLoopbackGroups(2, 300);
  testing::ExpectIoTimeoutCanBeLifted(groups, 300);
}

}  // namespace
}  // namespace shoal::comm
