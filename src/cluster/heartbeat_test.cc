// Heartbeats against the layout in docs/wire-protocol.md (a ping built by hand, tagged with
// HMAC-SHA256 computed here), every corruption refused, and Membership's states over loopback:
// joined, slow, lost, rejoined, restarted; a node with another secret is never alive.
#include "cluster/heartbeat.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "cluster/membership.h"
#include "comm/tcp/handshake.h"

namespace shoal::cluster {
namespace {

const std::string kSecret = "heartbeat-test-secret-0123456789abcdefghijk";

void Le(std::vector<uint8_t>* b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b->push_back(uint8_t(v >> (8 * i)));
}

TEST(Heartbeat, PingIsTheDocumentedLayout) {
  const HeartbeatKey key = HeartbeatKey::FromSecret(kSecret);
  std::vector<uint8_t> want = {'S', 'H', 'H', 'B', 1, 1, 0, 0};
  Le(&want, 0x1122334455667788ULL, 8);
  Le(&want, 7, 8);
  Le(&want, 3, 8);
  uint8_t mac[32];
  comm::tcp::HmacSha256(key.bytes.data(), key.bytes.size(), want.data(), want.size(), mac);
  want.insert(want.end(), mac, mac + 16);
  EXPECT_EQ(EncodePing(key, {0x1122334455667788ULL, 7, 3}), want);
  auto p = DecodePing(key, want);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pool, 0x1122334455667788ULL);
  EXPECT_EQ(p->seq, 7u);
  EXPECT_EQ(p->epoch, 3u);
}

TEST(Heartbeat, PongRoundTripsAndEveryCorruptionIsRefused) {
  const HeartbeatKey key = HeartbeatKey::FromSecret(kSecret);
  Pong p;
  p.pool = 9;
  p.seq = 12345;
  NodeStatus& s = p.status;
  s.instance = 0xabcdef;
  s.protocol = 2;
  s.uptime_ms = 123456;
  s.memory_total_bytes = uint64_t{64} << 30;
  s.memory_available_bytes = uint64_t{40} << 30;
  s.load = 1.5f;
  s.threads = 16;
  s.activity = NodeActivity::kJob;
  s.job_pool = 9;
  s.job_epoch = 4;
  s.version = "abc1234";
  s.model = "0123456789abcdef0123456789abcdef";
  const std::vector<uint8_t> d = EncodePong(key, p);
  ASSERT_LE(d.size(), kMaxDatagramBytes);
  auto back = DecodePong(key, d);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->seq, p.seq);
  EXPECT_EQ(back->status.instance, s.instance);
  EXPECT_EQ(back->status.memory_available_bytes, s.memory_available_bytes);
  EXPECT_EQ(back->status.load, s.load);
  EXPECT_EQ(back->status.activity, NodeActivity::kJob);
  EXPECT_EQ(back->status.job_epoch, 4u);
  EXPECT_EQ(back->status.version, s.version);
  EXPECT_EQ(back->status.model, s.model);
  // Another secret, any flipped bit, any truncation, trailing bytes, the other type: refused.
  EXPECT_FALSE(DecodePong(HeartbeatKey::FromSecret(kSecret + "x"), d).ok());
  for (size_t i = 0; i < d.size(); ++i) {
    std::vector<uint8_t> x = d;
    x[i] ^= 0x10;
    EXPECT_FALSE(DecodePong(key, x).ok()) << "byte " << i;
  }
  for (size_t n = 0; n < d.size(); ++n) {
    EXPECT_FALSE(DecodePong(key, std::span<const uint8_t>(d.data(), n)).ok()) << n;
  }
  std::vector<uint8_t> longer = d;
  longer.push_back(0);
  EXPECT_FALSE(DecodePong(key, longer).ok());
  EXPECT_FALSE(DecodePing(key, d).ok());
  const std::vector<uint8_t> huge(kMaxDatagramBytes + 1, 0);
  EXPECT_FALSE(DecodePing(key, huge).ok());
  // Over-long strings are cut to the bound when encoded.
  p.status.version = std::string(300, 'v');
  auto cut = DecodePong(key, EncodePong(key, p));
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->status.version.size(), kMaxStatusText);
}

// Events Membership reported, for the test to wait on.
struct Events {
  std::mutex mu;
  std::vector<MembershipEvent> all;
  void Add(const MembershipEvent& e) {
    std::lock_guard<std::mutex> l(mu);
    all.push_back(e);
  }
  // Waits up to 5 s for an event to state `to` (with `restarted`), after the first `from` ones.
  bool Wait(size_t from, NodeState to, bool restarted = false) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> l(mu);
        for (size_t k = from; k < all.size(); ++k) {
          if (all[k].to == to && all[k].restarted == restarted) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu);
    return all.size();
  }
};

std::unique_ptr<HeartbeatResponder> Responder(const std::string& addr, uint64_t instance,
                                              const std::string& secret = kSecret) {
  auto r = HeartbeatResponder::Start(addr, secret,
                                     [instance] {
                                       NodeStatus s;
                                       s.instance = instance;
                                       s.version = "test";
                                       FillHostStatus(&s, MonotonicMs());
                                       return s;
                                     },
                                     {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(Membership, JoinedSlowLostRejoinedRestarted) {
  Events ev;
  MembershipOptions o;
  o.interval_ms = 20;
  o.slow_after_ms = 100;
  o.dead_after_ms = 250;
  auto m = Membership::Start(kSecret, o, [&](const MembershipEvent& e) { ev.Add(e); });
  ASSERT_TRUE(m.ok());
  auto r = Responder("127.0.0.1:0", 42);
  ASSERT_NE(r, nullptr);
  const std::string addr = "127.0.0.1:" + std::to_string(r->port());
  ASSERT_TRUE((*m)->Add(addr).ok());
  EXPECT_FALSE((*m)->Add("no-port").ok());
  ASSERT_TRUE(ev.Wait(0, NodeState::kAlive));
  std::vector<NodeView> v = (*m)->Snapshot();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].status.instance, 42u);
  EXPECT_EQ(v[0].status.version, "test");
  EXPECT_GT(v[0].status.memory_total_bytes, 0u);
  // Silent: slow, then lost.
  size_t n = ev.size();
  r.reset();
  ASSERT_TRUE(ev.Wait(n, NodeState::kSlow));
  ASSERT_TRUE(ev.Wait(n, NodeState::kLost));
  EXPECT_EQ((*m)->Snapshot()[0].state, NodeState::kLost);
  // The same process answering again: rejoined.
  n = ev.size();
  r = Responder(addr, 42);
  ASSERT_TRUE(ev.Wait(n, NodeState::kAlive, /*restarted=*/false));
  // Another process at that address: restarted.
  n = ev.size();
  r.reset();
  r = Responder(addr, 43);
  ASSERT_TRUE(ev.Wait(n, NodeState::kAlive, /*restarted=*/true));
  EXPECT_EQ((*m)->Snapshot()[0].status.instance, 43u);
  // Draining is the operator's mark; an unknown node is refused.
  EXPECT_TRUE((*m)->SetDraining(addr, true).ok());
  EXPECT_TRUE((*m)->Snapshot()[0].draining);
  EXPECT_EQ((*m)->SetDraining("127.0.0.1:1", true).code(), StatusCode::kNotFound);
}

TEST(Membership, ANodeWithAnotherSecretIsNeverAlive) {
  MembershipOptions o;
  o.interval_ms = 20;
  o.slow_after_ms = 100;
  o.dead_after_ms = 250;
  auto m = Membership::Start(kSecret, o, {});
  ASSERT_TRUE(m.ok());
  auto r = Responder("127.0.0.1:0", 7, kSecret + "-other");
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE((*m)->Add("127.0.0.1:" + std::to_string(r->port())).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<NodeView> v = (*m)->Snapshot();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].heard);
  EXPECT_EQ(v[0].state, NodeState::kUnknown);
  EXPECT_FALSE(Membership::Start(kSecret, {10, 5, 20}, {}).ok());  // slow before the interval
}

}  // namespace
}  // namespace shoal::cluster
