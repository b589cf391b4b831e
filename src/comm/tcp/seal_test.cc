// Sealed tcp links (since protocol 2): every link security gives the reference all-reduce; a proxy
// on 127.0.0.1 between two ranks that flips, replays or drops one data frame ends the job with a
// clear error naming the peer; mismatched modes, old-version and hostile peers are refused.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include "comm/channel.h"
#include "comm/frame.h"
#include "comm/tcp/handshake.h"
#include "comm/tcp/tcp.h"
#include "comm/tcp/transport.h"
#include "comm/test_util.h"

namespace shoal::comm::tcp {
namespace {

using comm::testing::InputF32;
using comm::testing::RefSum;
using comm::testing::RunRanks;

constexpr char kSecret[] = "9d1c7e0a4b2f68e3c5a7190d8f6e4b2a1c3e5f7092b4d6f8a0c2e4f6b8d0a2c4";

Options Opts(LinkSecurity s, int io_timeout_ms = 5000) {
  Options o;
  o.secret = kSecret;
  o.link_security = s;
  o.connect_timeout_ms = 5000;
  o.io_timeout_ms = io_timeout_ms;
  return o;
}

// Rank 0 launches (dialing `dial` in place of rank 1's own address when given), rank 1 joins.
std::vector<std::unique_ptr<Group>> TwoRanks(const Options& o0, const Options& o1, Listener& l,
                                             const std::string& dial) {
  std::vector<std::unique_ptr<Group>> groups(2);
  std::thread worker([&] {
    auto g = Join(l, o1, 10000);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (g.ok()) groups[1] = std::move(*g);
  });
  auto g = Launch(std::span(&dial, 1), o0);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  if (g.ok()) groups[0] = std::move(*g);
  worker.join();
  return groups;
}

TEST(Seal, EveryModeAndCipherGivesTheReferenceAllReduce) {
  const bool aes = CiphersAvailable() & CipherBit(Cipher::kAes256Gcm);
  for (LinkSecurity s : {LinkSecurity::kSeal, LinkSecurity::kAuth, LinkSecurity::kNone}) {
    for (bool allow_aes : {true, false}) {
      Options o = Opts(s);
      o.allow_aes_gcm = allow_aes;
      auto l = Listener::Bind("127.0.0.1:0");
      ASSERT_TRUE(l.ok());
      auto groups = TwoRanks(o, o, *l, l->address());
      ASSERT_TRUE(groups[0] && groups[1]);
      const std::string want = s == LinkSecurity::kNone
                                   ? "none"
                                   : std::string(LinkSecurityName(s)) +
                                         (aes && allow_aes ? " aes-256-gcm" : " chacha20-poly1305");
      EXPECT_EQ(LinkDescription(*groups[0]), want);
      EXPECT_EQ(LinkDescription(*groups[1]), want);
      for (size_t count : {size_t{1}, size_t{4096}, size_t{7168}, size_t{1} << 18}) {
        std::vector<std::vector<float>> in(2), out(2);
        for (int r = 0; r < 2; ++r) in[r] = out[r] = InputF32(r, count);
        auto st = RunRanks(groups, [&](Group& g) {
          SHOAL_RETURN_IF_ERROR(g.Barrier());
          return g.AllReduceSum(out[g.rank()].data(), count, ElemType::kF32, Algorithm::kDirect);
        });
        for (int r = 0; r < 2; ++r) {
          ASSERT_TRUE(st[r].ok()) << st[r].ToString();
          ASSERT_EQ(0, std::memcmp(out[r].data(), out[0].data(), count * 4));
        }
        for (size_t i = 0; i < count; i += 13) {
          const float ref = RefSum(in, count, i, Algorithm::kDirect);
          ASSERT_EQ(0, std::memcmp(&ref, &out[0][i], 4)) << want << " i=" << i;
        }
      }
    }
  }
}

// A forwarder between rank 0 (the dialer) and rank 1 that parses rank 0's frames (HELLO and AUTH
// plain, everything after them with a tag) and does one thing to the k-th data frame.
class TamperProxy {
 public:
  enum class Act { kFlip, kReplay, kDrop };
  TamperProxy(const std::string& target, size_t tag_bytes, Act act, int k)
      : target_(target), tag_bytes_(tag_bytes), act_(act), k_(k) {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(0, bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a));
    EXPECT_EQ(0, listen(listen_, 4));
    getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
#ifndef MSG_NOSIGNAL
    signal(SIGPIPE, SIG_IGN);
#endif
    thread_ = std::thread([this] { Run(); });
  }
  ~TamperProxy() {
    stop_ = true;
    for (int fd : {down_.load(), up_.load()}) {
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    thread_.join();
    for (int fd : {listen_, down_.load(), up_.load()}) {
      if (fd >= 0) close(fd);
    }
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool acted() const { return acted_; }

 private:
  static bool ReadN(int fd, uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t r = recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  static bool WriteN(int fd, const uint8_t* p, size_t n) {
    while (n > 0) {
#ifdef MSG_NOSIGNAL
      const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
#else
      const ssize_t w = send(fd, p, n, 0);  // SIGPIPE is ignored below
#endif
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  void Run() {
    pollfd p{listen_, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return;
    down_ = accept(listen_, nullptr, nullptr);
    auto hp = ParseHostPort(target_);
    auto fd = ConnectOnce(*hp, After(5000));
    if (!fd.ok()) return;
    up_ = fd->release();
    const int up = up_;  // back to blocking for these plain loops
    fcntl(up, F_SETFL, fcntl(up, F_GETFL) & ~O_NONBLOCK);
    std::thread back([this] {  // rank 1 -> rank 0, untouched
      uint8_t buf[65536];
      for (;;) {
        const ssize_t r = recv(up_, buf, sizeof buf, 0);
        if (r <= 0 || !WriteN(down_, buf, static_cast<size_t>(r))) break;
      }
      shutdown(down_, SHUT_RDWR);
    });
    int data_frames = 0;
    for (int frame = 0; !stop_; ++frame) {
      std::vector<uint8_t> f(kFrameHeaderBytes);
      if (!ReadN(down_, f.data(), f.size())) break;
      const FrameHeader h = DecodeFrameHeader(f.data());
      const size_t body = h.bytes + (frame >= 2 ? tag_bytes_ : 0);
      if (h.bytes > (64u << 20)) break;
      f.resize(kFrameHeaderBytes + body);
      if (!ReadN(down_, f.data() + kFrameHeaderBytes, body)) break;
      int copies = 1;
      if (h.type == kFrameData && data_frames++ == k_) {
        acted_ = true;
        if (act_ == Act::kFlip) f[kFrameHeaderBytes + h.bytes / 2] ^= 0x20;
        if (act_ == Act::kReplay) copies = 2;
        if (act_ == Act::kDrop) copies = 0;
      }
      bool ok = true;
      for (int c = 0; c < copies && ok; ++c) ok = WriteN(up_, f.data(), f.size());
      if (!ok) break;
    }
    shutdown(up_, SHUT_RDWR);
    back.join();
  }

  std::string target_;
  size_t tag_bytes_;
  Act act_;
  int k_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<int> down_{-1}, up_{-1};
  std::atomic<bool> stop_{false}, acted_{false};
  std::thread thread_;
};

// Twenty all-reduces through the proxy, which spoils rank 0's 5th data frame: every call before
// it gives the reference sum, rank 1 then fails naming rank 0 and saying what happened, rank 0
// fails too (rank 1 tears the links down), and nothing crashes or returns a wrong sum.
TEST(Seal, TamperedReplayedOrDroppedFrameEndsTheJobWithAClearError) {
  for (LinkSecurity s : {LinkSecurity::kSeal, LinkSecurity::kAuth}) {
    for (TamperProxy::Act act :
         {TamperProxy::Act::kFlip, TamperProxy::Act::kReplay, TamperProxy::Act::kDrop}) {
      SCOPED_TRACE(std::string(LinkSecurityName(s)) + " act " + std::to_string(int(act)));
      auto l = Listener::Bind("127.0.0.1:0");
      ASSERT_TRUE(l.ok());
      TamperProxy proxy(l->address(), kTagBytes, act, 4);
      auto groups = TwoRanks(Opts(s, 2000), Opts(s, 2000), *l, proxy.address());
      ASSERT_TRUE(groups[0] && groups[1]);
      const size_t count = 7168;
      std::vector<std::vector<float>> in(2);
      for (int r = 0; r < 2; ++r) in[r] = InputF32(r, count);
      std::vector<int> good_calls(2, 0);
      auto st = RunRanks(groups, [&](Group& g) {
        for (int i = 0; i < 20; ++i) {
          std::vector<float> v = in[g.rank()];
          SHOAL_RETURN_IF_ERROR(g.AllReduceSum(v.data(), count, ElemType::kF32));
          for (size_t e = 0; e < count; e += 7) {
            const float ref = RefSum(in, count, e, Algorithm::kDirect);
            if (std::memcmp(&ref, &v[e], 4) != 0) return Internal("wrong sum");
          }
          ++good_calls[g.rank()];
        }
        return Status::Ok();
      });
      EXPECT_TRUE(proxy.acted());
      EXPECT_FALSE(st[0].ok());
      ASSERT_FALSE(st[1].ok());
      EXPECT_NE(st[0].code(), StatusCode::kInternal) << st[0].ToString();
      EXPECT_EQ(st[1].code(), StatusCode::kCorrupt) << st[1].ToString();
      EXPECT_NE(st[1].message().find("failed authentication"), std::string::npos)
          << st[1].ToString();
      EXPECT_NE(st[1].message().find("rank 0 ("), std::string::npos) << st[1].ToString();
      std::printf("  %s, act %d: rank 0: %s\n  rank 1: %s\n",
                  std::string(LinkSecurityName(s)).c_str(), int(act), st[0].ToString().c_str(),
                  st[1].ToString().c_str());
      EXPECT_LE(good_calls[1], 5);
      EXPECT_GE(good_calls[1], 4);
    }
  }
}

TEST(Seal, MismatchedLinkSecurityIsRefusedOnBothSides) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  Status join_status;
  std::thread t([&] { join_status = Join(*l, Opts(LinkSecurity::kAuth), 1500).status(); });
  const std::string addr = l->address();
  auto g = Launch(std::span(&addr, 1), Opts(LinkSecurity::kSeal));
  t.join();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << g.status().ToString();
  EXPECT_NE(g.status().message().find("link security mismatch: this node uses --link-security "
                                      "seal, the peer auth"),
            std::string::npos)
      << g.status().ToString();
  ASSERT_FALSE(join_status.ok());
  EXPECT_NE(join_status.message().find("refused 1"), std::string::npos) << join_status.ToString();
  EXPECT_NE(join_status.message().find("link security mismatch"), std::string::npos)
      << join_status.ToString();
}

TEST(Seal, ShortOrWeakSecretIsRefusedLocally) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  for (const std::string& secret : {std::string("test secret"), std::string(48, 'z')}) {
    Options o = Opts(LinkSecurity::kSeal);
    o.secret = secret;
    const std::string addr = l->address();
    const Status a = Launch(std::span(&addr, 1), o).status();
    EXPECT_EQ(a.code(), StatusCode::kInvalidArgument) << a.ToString();
    EXPECT_NE(a.message().find("shoal secret"), std::string::npos) << a.ToString();
    EXPECT_EQ(Join(*l, o, 100).status().code(), StatusCode::kInvalidArgument);
  }
}

// Hand-made peers speaking an old protocol (version 1) get and give a clear refusal.
TEST(Seal, OldProtocolVersionIsRefusedClearly) {
  {  // an old dialer: its HELLO is answered with ERROR naming both versions
    auto l = Listener::Bind("127.0.0.1:0");
    ASSERT_TRUE(l.ok());
    Status join_status;
    std::thread t([&] { join_status = Join(*l, Opts(LinkSecurity::kSeal), 1500).status(); });
    auto fd = ConnectOnce(*ParseHostPort(l->address()), After(1000));
    ASSERT_TRUE(fd.ok());
    uint8_t hello[kHelloBytes] = {};
    PutU16(hello, 1);
    ASSERT_TRUE(SendMessage(fd->get(), MsgType::kHello, hello, sizeof hello, After(1000)).ok());
    auto reply = ReadMessage(fd->get(), After(1000));
    ASSERT_FALSE(reply.ok());
    EXPECT_NE(reply.status().message().find("peer says: protocol version 1 is not " +
                                            std::to_string(kProtocolVersion)),
              std::string::npos)
        << reply.status().ToString();
    t.join();
    EXPECT_NE(
        join_status.message().find("protocol version 1 is not " + std::to_string(kProtocolVersion)),
        std::string::npos)
        << join_status.ToString();
  }
  {  // an old acceptor: refuses our HELLO as version 1 does
    auto l = Listener::Bind("127.0.0.1:0");
    ASSERT_TRUE(l.ok());
    std::thread old([&] {
      pollfd p{l->fd(), POLLIN, 0};
      ASSERT_GT(poll(&p, 1, 5000), 0);
      Fd fd(accept(l->fd(), nullptr, nullptr));
      ASSERT_TRUE(SetSocketOptions(fd.get()).ok());
      auto hello = ReadMessage(fd.get(), After(2000));
      ASSERT_TRUE(hello.ok());
      EXPECT_EQ(GetU16(hello->payload.data()), kProtocolVersion);
      (void)SendError(fd.get(),
                      "protocol version " + std::to_string(kProtocolVersion) + " is not 1",
                      After(1000));
    });
    const std::string addr = l->address();
    auto g = Launch(std::span(&addr, 1), Opts(LinkSecurity::kSeal));
    old.join();
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented) << g.status().ToString();
    EXPECT_NE(g.status().message().find("does not speak protocol version " +
                                        std::to_string(kProtocolVersion)),
              std::string::npos)
        << g.status().ToString();
  }
}

// Before authentication: garbage and an oversized control length are refused before any
// allocation and the worker keeps waiting (and then serves a real rank 0).
TEST(Seal, HostilePeersBeforeAuthenticationAreRefused) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  const std::string addr = l->address();
  std::unique_ptr<Group> worker;
  Status join_status;
  std::thread t([&] {
    auto g = Join(*l, Opts(LinkSecurity::kSeal), 10000);
    join_status = g.status();
    if (g.ok()) worker = std::move(*g);
  });
  {
    auto fd = ConnectOnce(*ParseHostPort(addr), After(1000));
    ASSERT_TRUE(fd.ok());
    uint8_t h[kFrameHeaderBytes];
    FrameHeader fh;
    fh.type = static_cast<uint8_t>(MsgType::kHello);
    fh.bytes = uint64_t{1} << 40;
    EncodeFrameHeader(fh, h);
    ASSERT_TRUE(WriteFull(fd->get(), h, sizeof h, After(1000)).ok());
    uint8_t b;
    EXPECT_LE(recv(fd->get(), &b, 1, MSG_WAITALL), 1);  // answered or closed, never served
  }
  {
    auto fd = ConnectOnce(*ParseHostPort(addr), After(1000));
    ASSERT_TRUE(fd.ok());
    std::vector<uint8_t> junk(4096, 0x5A);
    ASSERT_TRUE(WriteFull(fd->get(), junk.data(), junk.size(), After(1000)).ok());
  }
  auto g = Launch(std::span(&addr, 1), Opts(LinkSecurity::kSeal));
  t.join();
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(join_status.ok()) << join_status.ToString();
  float v = 2;
  std::thread w([&] {
    float x = 3;
    EXPECT_TRUE(worker->AllReduceSum(&x, 1, ElemType::kF32).ok());
  });
  EXPECT_TRUE((*g)->AllReduceSum(&v, 1, ElemType::kF32).ok());
  w.join();
  EXPECT_EQ(v, 5.0f);
}

// After authentication a peer that holds the keys can still send a frame whose length is not the
// one the receiver expects: refused before the payload is read or anything allocated.
TEST(Seal, AuthenticatedFrameOfTheWrongLengthIsRefused) {
  auto l = Listener::Bind("127.0.0.1:0");
  ASSERT_TRUE(l.ok());
  auto groups = TwoRanks(Opts(LinkSecurity::kSeal), Opts(LinkSecurity::kSeal), *l, l->address());
  ASSERT_TRUE(groups[0] && groups[1]);
  std::vector<uint8_t> small(100, 1), big(4096);
  std::thread sender([&] { (void)groups[1]->Send(0, small.data(), small.size()); });
  const Status s = groups[0]->Recv(1, big.data(), big.size());
  sender.join();
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("sent a frame of 100 bytes where 4096 were expected"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("rank 1 (127.0.0.1:"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace shoal::comm::tcp
