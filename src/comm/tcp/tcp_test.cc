// tcp backend over 127.0.0.1 ephemeral ports, ranks as threads of this process.
#include "comm/tcp/tcp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <thread>

#include "comm/frame.h"
#include "comm/tcp/transport.h"
#include "comm/test_util.h"

namespace shoal::comm::tcp {
namespace {

using comm::testing::InputF32;
using comm::testing::RefSum;
using comm::testing::RunRanks;

// 64 hex digits, as `shoal secret` writes.
constexpr char kSecret[] = "5f0c9a3e1b7d42e8a6c3f1d09b8e7a6512c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0";

Options Opts(int io_timeout_ms = 5000, bool busy = false) {
  Options o;
  o.secret = kSecret;
  o.connect_timeout_ms = 5000;
  o.io_timeout_ms = io_timeout_ms;
  o.busy_poll = busy;
  return o;
}

// n ranks: rank 0 launches, 1..n-1 join on their own listeners.
std::vector<std::unique_ptr<Group>> MakeTcpGroups(int n, const Options& o) {
  std::vector<Listener> listeners;
  std::vector<std::string> addresses;
  for (int i = 1; i < n; ++i) {
    auto l = Listener::Bind("127.0.0.1:0");
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    addresses.push_back(l->address());
    listeners.push_back(std::move(*l));
  }
  std::vector<std::unique_ptr<Group>> groups(n);
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) {
    threads.emplace_back([&, i] {
      auto g = Join(listeners[i - 1], o, 10000);
      EXPECT_TRUE(g.ok()) << g.status().ToString();
      if (g.ok()) groups[(*g)->rank()] = std::move(*g);
    });
  }
  auto g = Launch(addresses, o);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  if (g.ok()) groups[0] = std::move(*g);
  for (auto& t : threads) t.join();
  return groups;
}

TEST(Tcp, AllReduceMatchesReferenceOnEveryRank) {
  for (int n : {2, 3, 4}) {
    for (bool busy : {false, true}) {
      if (busy && n > 2) continue;  // 2 cores: spinning ranks beyond 2 only slow the test
      auto groups = MakeTcpGroups(n, Opts(5000, busy));
      ASSERT_TRUE(groups[0] && groups[n - 1]);
      for (size_t count : {size_t{1}, size_t{7168}, size_t{1} << 20}) {
        for (Algorithm algo : {Algorithm::kDirect, Algorithm::kRing}) {
          std::vector<std::vector<float>> in(n), out(n);
          for (int r = 0; r < n; ++r) in[r] = out[r] = InputF32(r, count);
          auto st = RunRanks(groups, [&](Group& g) {
            return g.AllReduceSum(out[g.rank()].data(), count, ElemType::kF32, algo);
          });
          for (int r = 0; r < n; ++r) {
            ASSERT_TRUE(st[r].ok()) << st[r].ToString();
            ASSERT_EQ(0, std::memcmp(out[r].data(), out[0].data(), count * 4));
          }
          for (size_t i = 0; i < count; i += 97) {
            const float want = RefSum(in, count, i, algo);
            ASSERT_EQ(0, std::memcmp(&want, &out[0][i], 4)) << "n=" << n << " i=" << i;
          }
        }
      }
      EXPECT_EQ(groups[0]->backend(), "tcp");
      EXPECT_NE(groups[0]->PeerName(1).find("127.0.0.1:"), std::string::npos);
    }
  }
}

TEST(Tcp, EightRankMeshBf16AndAuto) {
  const int n = 8;
  auto groups = MakeTcpGroups(n, Opts());
  for (int r = 0; r < n; ++r) ASSERT_TRUE(groups[r]) << r;
  const size_t count = 7168;
  std::vector<std::vector<float>> in(n);
  std::vector<std::vector<uint16_t>> out(n);
  for (int r = 0; r < n; ++r) {
    out[r] = comm::testing::InputBF16(r, count);
    in[r].resize(count);
    F32FromBF16(out[r].data(), count, in[r].data());
  }
  auto st = RunRanks(groups, [&](Group& g) {
    return g.AllReduceSum(out[g.rank()].data(), count, ElemType::kBF16, Algorithm::kAuto);
  });
  const Algorithm used = ChooseAllReduce(count * 2, n);
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(st[r].ok()) << st[r].ToString();
    ASSERT_EQ(out[r], out[0]);
  }
  for (size_t i = 0; i < count; ++i) {
    ASSERT_EQ(out[0][i], BF16FromF32(RefSum(in, count, i, used))) << i;
  }
}

TEST(Tcp, GatherBroadcastBarrierSendRecvAndLargeSimultaneousSends) {
  const int n = 3;
  auto groups = MakeTcpGroups(n, Opts());
  ASSERT_TRUE(groups[0] && groups[2]);
  const std::vector<size_t> sizes = {5, 0, 3};
  std::vector<std::vector<uint8_t>> out(n, std::vector<uint8_t>(8));
  std::vector<uint8_t> gathered(8);
  // 16 MiB each way between ranks 0 and 1 at once: more than socket buffers hold.
  const size_t big = 16 << 20;
  std::vector<std::vector<uint8_t>> bigs(n, std::vector<uint8_t>(2 * big));
  auto st = RunRanks(groups, [&](Group& g) {
    const int r = g.rank();
    std::vector<uint8_t> in(sizes[r], static_cast<uint8_t>(10 + r));
    SHOAL_RETURN_IF_ERROR(g.AllGatherV(in.data(), out[r].data(), sizes));
    SHOAL_RETURN_IF_ERROR(g.GatherV(in.data(), r == 1 ? gathered.data() : nullptr, sizes, 1));
    int v = r == 2 ? 42 : 0;
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&v, sizeof v, 2));
    if (v != 42) return Internal("broadcast");
    SHOAL_RETURN_IF_ERROR(g.Barrier());
    if (r < 2) {
      std::fill(bigs[r].begin() + r * big, bigs[r].begin() + (r + 1) * big, uint8_t(r + 1));
      const size_t two[3] = {big, big, 0};
      SHOAL_RETURN_IF_ERROR(g.AllGatherV(bigs[r].data() + r * big, bigs[r].data(), two));
    } else {
      const size_t two[3] = {big, big, 0};
      SHOAL_RETURN_IF_ERROR(g.AllGatherV(nullptr, bigs[r].data(), two));
    }
    int token = 7;
    if (r == 0) return g.Send(2, &token, sizeof token);
    if (r == 2) {
      SHOAL_RETURN_IF_ERROR(g.Recv(0, &token, sizeof token));
      if (token != 7) return Internal("recv");
    }
    return Status::Ok();
  });
  const std::vector<uint8_t> want = {10, 10, 10, 10, 10, 12, 12, 12};
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(st[r].ok()) << st[r].ToString();
    EXPECT_EQ(out[r], want);
    EXPECT_EQ(bigs[r][0], 1);
    EXPECT_EQ(bigs[r][2 * big - 1], 2);
  }
  EXPECT_EQ(gathered, want);
}

TEST(Tcp, WrongSecretIsRefusedOnBothSidesAndNoDataMoves) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  Options worker = Opts(), boss = Opts();
  worker.secret = "the right secret: 0123456789abcdefghijklmnop";
  boss.secret = "a wrong secret: 0123456789abcdefghijklmnopqr";
  Status join_status;
  std::thread t([&] { join_status = Join(*l, worker, 1500).status(); });
  const std::string addr = l->address();
  auto g = Launch(std::span(&addr, 1), boss);
  t.join();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << g.status().ToString();
  EXPECT_NE(g.status().message().find("secret"), std::string::npos) << g.status().ToString();
  EXPECT_NE(g.status().message().find("rank 1"), std::string::npos) << g.status().ToString();
  ASSERT_FALSE(join_status.ok());
  EXPECT_NE(join_status.message().find("refused 1"), std::string::npos) << join_status.ToString();
  EXPECT_NE(join_status.message().find("secret"), std::string::npos) << join_status.ToString();
}

TEST(Tcp, StrayConnectionsDoNotEndTheWaitAndJoinServesJobAfterJob) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  const std::string addr = l->address();
  std::thread worker([&] {
    for (int job = 0; job < 2; ++job) {
      auto g = Join(*l, Opts(), 10000);
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      float v[3] = {1, 2, 3};
      ASSERT_TRUE((*g)->AllReduceSum(v, 3, ElemType::kF32).ok());
      EXPECT_EQ(v[2], 6.0f);
    }
  });
  {  // a stray speaking HTTP, then one that connects and says nothing, then closes
    auto fd = ConnectOnce(*ParseHostPort(addr), After(1000));
    ASSERT_TRUE(fd.ok());
    const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(WriteFull(fd->get(), http, sizeof http - 1, After(1000)).ok());
    auto fd2 = ConnectOnce(*ParseHostPort(addr), After(1000));
    ASSERT_TRUE(fd2.ok());
  }
  for (int job = 0; job < 2; ++job) {
    auto g = Launch(std::span(&addr, 1), Opts());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    float v[3] = {1, 2, 3};
    ASSERT_TRUE((*g)->AllReduceSum(v, 3, ElemType::kF32).ok());
    EXPECT_EQ(v[1], 4.0f);
  }
  worker.join();
}

TEST(Tcp, LaunchWithNoWorkerListeningTimesOutNamingIt) {
  std::string addr;
  {
    auto l = Listener::Bind("127.0.0.1:0");
    ASSERT_TRUE(l.ok());
    addr = l->address();
  }  // closed again: nothing listens there
  Options o = Opts();
  o.connect_timeout_ms = 300;
  auto g = Launch(std::span(&addr, 1), o);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find(addr), std::string::npos) << g.status().ToString();
  const std::string twice[2] = {addr, addr};
  EXPECT_EQ(Launch(twice, o).status().code(), StatusCode::kInvalidArgument);
  Options no_secret;
  EXPECT_EQ(Launch(std::span(&addr, 1), no_secret).status().code(), StatusCode::kInvalidArgument);
}

// Writes a forged data frame header on rank 1's socket to rank 0.
void Forge(Group& g1, uint64_t bytes, size_t payload_bytes) {
  const int fd = PeerFdForTesting(g1, 0);
  ASSERT_GE(fd, 0);
  uint8_t h[kFrameHeaderBytes];
  FrameHeader fh;
  fh.op = static_cast<uint8_t>(Op::kP2P);
  fh.bytes = bytes;
  EncodeFrameHeader(fh, h);
  std::vector<uint8_t> buf(h, h + sizeof h);
  buf.resize(sizeof h + payload_bytes, 0xAB);
  ASSERT_TRUE(WriteFull(fd, buf.data(), buf.size(), After(1000)).ok());
}

TEST(TcpBadPeers, TruncatedMessage) {
  auto groups = MakeTcpGroups(2, Opts(2000));
  ASSERT_TRUE(groups[0] && groups[1]);
  Forge(*groups[1], 4096, 100);
  groups[1].reset();  // closes mid-message
  std::vector<uint8_t> buf(4096);
  Status s = groups[0]->Recv(1, buf.data(), buf.size());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("rank 1 (127.0.0.1:"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.ToString();
}

TEST(TcpBadPeers, OversizedLengthField) {
  auto groups = MakeTcpGroups(2, Opts(2000));
  ASSERT_TRUE(groups[0] && groups[1]);
  Forge(*groups[1], uint64_t{1} << 60, 0);
  std::vector<uint8_t> buf(4096);
  Status s = groups[0]->Recv(1, buf.data(), buf.size());
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("1152921504606846976 bytes where 4096"), std::string::npos)
      << s.ToString();
  EXPECT_FALSE(groups[0]->Barrier().ok());  // unusable after an error
}

TEST(TcpBadPeers, PeerClosesMidCollective) {
  auto groups = MakeTcpGroups(3, Opts(5000));
  ASSERT_TRUE(groups[0] && groups[2]);
  const size_t count = 1 << 20;
  std::vector<std::vector<float>> v(3, std::vector<float>(count, 1.0f));
  const auto t0 = std::chrono::steady_clock::now();
  auto st = RunRanks(groups, [&](Group& g) {
    if (g.rank() == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      groups[2].reset();  // this rank's thread destroys its group: sockets close
      return Status::Ok();
    }
    return g.AllReduceSum(v[g.rank()].data(), count, ElemType::kF32, Algorithm::kRing);
  });
  EXPECT_FALSE(st[0].ok());
  EXPECT_FALSE(st[1].ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

TEST(TcpBadPeers, SilentPeerIsReportedWithinTheTimeout) {
  auto groups = MakeTcpGroups(2, Opts(1000));
  ASSERT_TRUE(groups[0] && groups[1]);
  std::vector<float> v(7168, 1.0f);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = groups[0]->AllReduceSum(v.data(), v.size(), ElemType::kF32);  // rank 1 never calls
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("rank 1 (127.0.0.1:"), std::string::npos) << s.ToString();
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
}

TEST(Tcp, SetIoTimeoutMsLiftsAndRestoresTheLimit) {
  auto groups = MakeTcpGroups(2, Opts(300));
  comm::testing::ExpectIoTimeoutCanBeLifted(groups, 300);
}

TEST(Tcp, DataSocketsHaveKeepalive) {
  auto groups = MakeTcpGroups(2, Opts());
  ASSERT_TRUE(groups[0] && groups[1]);
  for (int r : {0, 1}) {
    int on = 0;
    socklen_t len = sizeof on;
    ASSERT_EQ(0,
              getsockopt(PeerFdForTesting(*groups[r], 1 - r), SOL_SOCKET, SO_KEEPALIVE, &on, &len));
    EXPECT_NE(on, 0) << "rank " << r;
  }
}

}  // namespace
}  // namespace shoal::comm::tcp
