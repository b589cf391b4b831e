// Announcer -> Discoverer over unicast on 127.0.0.1 (ports picked by the kernel), and datagrams
// written by the test itself: wrong secret, replay, garbage, a restarted worker, expiry.
#include "cluster/discoverer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/announcer.h"
#include "cluster/discovery.h"

namespace shoal::cluster {
namespace {

const std::string kSecret = "discoverer-test-secret-0123456789abcdefghij";

bool WaitFor(const std::function<bool()>& done, int ms = 5000) {
  for (int waited = 0; waited < ms; waited += 10) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

std::unique_ptr<Discoverer> Listen(std::function<void(const FoundNode&)> on_node = {},
                                   int expire_ms = 5000) {
  DiscovererOptions o;
  o.group = "";
  o.bind = "127.0.0.1:0";
  o.secret = kSecret;
  o.expire_ms = expire_ms;
  o.on_node = std::move(on_node);
  auto d = Discoverer::Start(o);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(*d) : nullptr;
}

// Sends raw datagrams to 127.0.0.1:port.
struct Sender {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ~Sender() { ::close(fd); }
  void Send(uint16_t port, const std::vector<uint8_t>& d) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              ssize_t(d.size()));
  }
};

std::vector<uint8_t> Datagram(uint64_t instance, uint64_t counter, uint16_t port,
                              const std::string& secret = kSecret, const std::string& host = "") {
  Announcement a;
  a.host = host;
  a.instance = instance;
  a.counter = counter;
  a.port = port;
  a.protocol = 2;
  a.version = "test";
  auto b = EncodeAnnouncement(a, DeriveDiscoveryKey(secret));
  EXPECT_TRUE(b.ok());
  return b.ok() ? *b : std::vector<uint8_t>{};
}

int Entries(const char* dir) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) return -1;
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

TEST(Discoverer, FindsAnAnnouncerOverUnicast) {
  std::mutex mu;
  std::vector<FoundNode> events;
  auto d = Listen([&](const FoundNode& n) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(n);
  });
  ASSERT_NE(d, nullptr);
  ASSERT_NE(d->port(), 0);
  AnnouncerOptions o;
  o.group = "";
  o.targets = {"127.0.0.1:" + std::to_string(d->port())};
  o.interval_ms = 20;
  o.secret = kSecret;
  o.what.host = "0.0.0.0";  // a wildcard: the discoverer uses the datagram's source
  o.what.port = 7700;
  o.what.protocol = 2;
  o.what.version = "v1.2.3";
  o.what.model_id = "00112233445566778899aabbccddeeff";
  o.what.memory_bytes = 3ull << 30;
  auto a = Announcer::Start(o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*a)->sent() >= 3 && d->counts().accepted >= 3; }));
  std::vector<FoundNode> nodes = d->Snapshot();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].address, "127.0.0.1:7700");
  EXPECT_EQ(nodes[0].instance, (*a)->instance());
  EXPECT_EQ(nodes[0].version, "v1.2.3");
  EXPECT_EQ(nodes[0].protocol, 2);
  EXPECT_EQ(nodes[0].model_id, o.what.model_id);
  EXPECT_EQ(nodes[0].memory_bytes, 3ull << 30);
  EXPECT_LE(nodes[0].first_seen, nodes[0].last_seen);
  EXPECT_EQ(d->counts().dropped, 0u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 1u);  // one callback, not one per datagram
  EXPECT_EQ(events[0].address, "127.0.0.1:7700");
  EXPECT_EQ(events[0].replaced, 0u);
}

TEST(Discoverer, AnnouncerWithAnotherSecretIsNotListed) {
  auto d = Listen();
  ASSERT_NE(d, nullptr);
  AnnouncerOptions o;
  o.group = "";
  o.targets = {"127.0.0.1:" + std::to_string(d->port())};
  o.interval_ms = 20;
  o.secret = kSecret + "-other";
  o.what.port = 7701;
  auto a = Announcer::Start(o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return d->counts().dropped >= 3; }));
  EXPECT_TRUE(d->Snapshot().empty());
  EXPECT_EQ(d->counts().accepted, 0u);
  EXPECT_NE(d->counts().last_drop.find("tag does not match"), std::string::npos)
      << d->counts().last_drop;
}

TEST(Discoverer, ReplayedAndGarbageDatagramsAreDropped) {
  auto d = Listen();
  ASSERT_NE(d, nullptr);
  Sender s;
  s.Send(d->port(), Datagram(9, 5, 7702));
  ASSERT_TRUE(WaitFor([&] { return d->counts().accepted == 1; }));
  s.Send(d->port(), Datagram(9, 5, 7702));  // the same datagram again
  ASSERT_TRUE(WaitFor([&] { return d->counts().dropped == 1; }));
  EXPECT_NE(d->counts().last_drop.find("replayed"), std::string::npos) << d->counts().last_drop;
  s.Send(d->port(), Datagram(9, 4, 7702));  // an older one
  s.Send(d->port(), std::vector<uint8_t>(kMaxAnnounceBytes + 100, 0xab));
  s.Send(d->port(), std::vector<uint8_t>{1, 2, 3});
  ASSERT_TRUE(WaitFor([&] { return d->counts().dropped == 4; }));
  s.Send(d->port(), Datagram(9, 6, 7702));  // the next one is fine
  ASSERT_TRUE(WaitFor([&] { return d->counts().accepted == 2; }));
  EXPECT_EQ(d->counts().dropped, 4u);
  ASSERT_EQ(d->Snapshot().size(), 1u);
  EXPECT_EQ(d->Snapshot()[0].instance, 9u);
}

TEST(Discoverer, NewInstanceAtAKnownAddressReplacesTheOld) {
  std::mutex mu;
  std::vector<FoundNode> events;
  auto d = Listen([&](const FoundNode& n) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(n);
  });
  ASSERT_NE(d, nullptr);
  Sender s;
  s.Send(d->port(), Datagram(100, 1, 7703));
  s.Send(d->port(), Datagram(100, 2, 7703));
  ASSERT_TRUE(WaitFor([&] { return d->counts().accepted == 2; }));
  s.Send(d->port(), Datagram(200, 1, 7703));  // the worker restarted
  ASSERT_TRUE(WaitFor([&] { return d->counts().accepted == 3; }));
  s.Send(d->port(), Datagram(100, 3, 7703));  // the old instance is retired
  ASSERT_TRUE(WaitFor([&] { return d->counts().dropped == 1; }));
  EXPECT_NE(d->counts().last_drop.find("retired"), std::string::npos);
  std::vector<FoundNode> nodes = d->Snapshot();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].instance, 200u);
  EXPECT_EQ(nodes[0].address, "127.0.0.1:7703");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].instance, 100u);
  EXPECT_EQ(events[1].instance, 200u);
  EXPECT_EQ(events[1].replaced, 100u);
}

TEST(Discoverer, SameInstanceAtANewAddressMoves) {
  std::mutex mu;
  std::vector<FoundNode> events;
  auto d = Listen([&](const FoundNode& n) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(n);
  });
  ASSERT_NE(d, nullptr);
  Sender s;
  s.Send(d->port(), Datagram(300, 1, 7706));
  s.Send(d->port(), Datagram(300, 2, 7706, kSecret, "10.1.2.3"));
  ASSERT_TRUE(WaitFor([&] { return d->counts().accepted == 2; }));
  std::vector<FoundNode> nodes = d->Snapshot();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].address, "10.1.2.3:7706");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].address, "127.0.0.1:7706");
  EXPECT_EQ(events[1].address, "10.1.2.3:7706");
}

// The announcer's own datagrams, read off a plain socket: one instance, counters 1, 2, 3, ...
TEST(Discoverer, AnnouncerCountsEveryDatagram) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  socklen_t len = sizeof at;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  AnnouncerOptions o;
  o.group = "";
  o.targets = {"127.0.0.1:" + std::to_string(ntohs(at.sin_port))};
  o.interval_ms = 10;
  o.secret = kSecret;
  o.what.port = 7707;
  auto a = Announcer::Start(o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  for (uint64_t want = 1; want <= 4; ++want) {
    uint8_t buf[1024];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    auto got = ParseAnnouncement(buf, size_t(n), key);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->instance, (*a)->instance());
    EXPECT_EQ(got->counter, want);
    EXPECT_EQ(got->port, 7707);
    EXPECT_EQ(got->host, "");
  }
  a->reset();
  ::close(fd);
}

TEST(Discoverer, SilentNodesExpire) {
  std::atomic<int> events{0};
  auto d = Listen([&](const FoundNode&) { ++events; }, /*expire_ms=*/100);
  ASSERT_NE(d, nullptr);
  Sender s;
  s.Send(d->port(), Datagram(7, 1, 7704));
  ASSERT_TRUE(WaitFor([&] { return d->Snapshot().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return d->Snapshot().empty(); }));
  s.Send(d->port(), Datagram(7, 2, 7704));  // heard again: a new node to the callback
  ASSERT_TRUE(WaitFor([&] { return d->Snapshot().size() == 1; }));
  EXPECT_EQ(events.load(), 2);
}

TEST(Discoverer, BadOptionsAreRefused) {
  DiscovererOptions o;
  o.secret = "short";
  EXPECT_FALSE(Discoverer::Start(o).ok());
  o.secret = kSecret;
  o.group = "10.0.0.1:7788";  // not multicast
  auto bad = Discoverer::Start(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("multicast"), std::string::npos);
  AnnouncerOptions a;
  a.secret = kSecret;
  a.what.port = 7000;
  a.group = "";
  EXPECT_FALSE(Announcer::Start(a).ok());  // nowhere to announce
  a.targets = {"127.0.0.1:0"};
  EXPECT_FALSE(Announcer::Start(a).ok());  // port 0
  a.targets = {"127.0.0.1:9"};
  a.what.port = 0;
  EXPECT_FALSE(Announcer::Start(a).ok());  // announces port 0
}

TEST(Discoverer, StopsCleanlyWithNoThreadOrFdLeft) {
  const int before = Entries("/proc/self/fd"), threads = Entries("/proc/self/task");
  if (before < 0 || threads < 0) GTEST_SKIP() << "no /proc/self";
  for (int i = 0; i < 5; ++i) {
    auto d = Listen();
    ASSERT_NE(d, nullptr);
    AnnouncerOptions o;
    o.group = "";
    o.targets = {"127.0.0.1:" + std::to_string(d->port())};
    o.interval_ms = 1000;  // the destructor must not wait for the interval
    o.secret = kSecret;
    o.what.port = 7705;
    auto a = Announcer::Start(o);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(WaitFor([&] { return d->counts().accepted >= 1; }));
  }
  EXPECT_EQ(Entries("/proc/self/fd"), before);
  EXPECT_EQ(Entries("/proc/self/task"), threads);
}

}  // namespace
}  // namespace shoal::cluster
