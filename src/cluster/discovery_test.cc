// The discovery datagram (discovery.h): its layout against the bytes docs/wire-protocol.md
// describes, built here by hand; and every way a datagram can be refused.
#include "cluster/discovery.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "comm/tcp/handshake.h"

namespace shoal::cluster {
namespace {

const std::string kSecret = "discovery-test-secret-0123456789abcdefghij";

Announcement Sample() {
  Announcement a;
  a.host = "";
  a.port = 7700;
  a.instance = 0x1122334455667788ull;
  a.counter = 42;
  a.protocol = 2;
  a.memory_bytes = 12ull << 30;
  a.version = "v0.3-17-gabcdef";
  a.model_id = "0123456789abcdef0123456789abcdef";
  return a;
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

TEST(Discovery, HmacSha256MatchesRfc4231Case2) {
  const std::string key = "Jefe", data = "what do ya want for nothing?";
  uint8_t out[32];
  comm::tcp::HmacSha256(reinterpret_cast<const uint8_t*>(key.data()), key.size(),
                        reinterpret_cast<const uint8_t*>(data.data()), data.size(), out);
  EXPECT_EQ(Hex(out, 32), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The datagram, written from the table in docs/wire-protocol.md ("Discovery"), tag included.
std::vector<uint8_t> ByHand(const Announcement& a, const std::string& secret) {
  std::vector<uint8_t> b = {'S', 'H', 'D', 'A', 1, 1};
  auto le = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(uint8_t(v >> (8 * i)));
  };
  le(a.port, 2);
  le(a.instance, 8);
  le(a.counter, 8);
  le(a.protocol, 2);
  le(a.memory_bytes, 8);
  for (const std::string& s : {a.host, a.version, a.model_id}) {
    b.push_back(uint8_t(s.size()));
    b.insert(b.end(), s.begin(), s.end());
  }
  const std::string salt = "shoal/discovery", info = "shoal/1 announce tag";
  uint8_t key[32], tag[32];
  comm::tcp::HkdfSha256(reinterpret_cast<const uint8_t*>(salt.data()), salt.size(),
                        reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
                        reinterpret_cast<const uint8_t*>(info.data()), info.size(), key);
  comm::tcp::HmacSha256(key, 32, b.data(), b.size(), tag);
  b.insert(b.end(), tag, tag + 16);
  return b;
}

TEST(Discovery, EncodeMatchesTheDocumentedLayoutAndParsesBack) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  for (const std::string host : {"", "10.0.0.3", "node-7.lan"}) {
    Announcement a = Sample();
    a.host = host;
    auto bytes = EncodeAnnouncement(a, key);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ(*bytes, ByHand(a, kSecret));
    EXPECT_LE(bytes->size(), kMaxAnnounceBytes);
    auto back = ParseAnnouncement(bytes->data(), bytes->size(), key);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->host, a.host);
    EXPECT_EQ(back->port, a.port);
    EXPECT_EQ(back->instance, a.instance);
    EXPECT_EQ(back->counter, a.counter);
    EXPECT_EQ(back->protocol, a.protocol);
    EXPECT_EQ(back->memory_bytes, a.memory_bytes);
    EXPECT_EQ(back->version, a.version);
    EXPECT_EQ(back->model_id, a.model_id);
  }
}

TEST(Discovery, LargestAnnouncementFitsTheBound) {
  Announcement a = Sample();
  a.host = std::string(kMaxAnnounceHostBytes, 'h');
  a.version = std::string(kMaxAnnounceVersionBytes, 'v');
  a.model_id = std::string(kMaxAnnounceModelBytes, 'f');
  auto bytes = EncodeAnnouncement(a, DeriveDiscoveryKey(kSecret));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->size(), 434u);  // docs/wire-protocol.md: 53 .. 434 bytes
  EXPECT_LE(bytes->size(), kMaxAnnounceBytes);
  EXPECT_TRUE(ParseAnnouncement(bytes->data(), bytes->size(), DeriveDiscoveryKey(kSecret)).ok());
  a.host = a.version = a.model_id = "";
  auto smallest = EncodeAnnouncement(a, DeriveDiscoveryKey(kSecret));
  ASSERT_TRUE(smallest.ok());
  EXPECT_EQ(smallest->size(), kMinAnnounceBytes);
  EXPECT_EQ(kMinAnnounceBytes, 53u);
  EXPECT_TRUE(
      ParseAnnouncement(smallest->data(), smallest->size(), DeriveDiscoveryKey(kSecret)).ok());
}

TEST(Discovery, EncodeRefusesFieldsOutOfBounds) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  auto refused = [&](Announcement a, const char* why) {
    auto b = EncodeAnnouncement(a, key);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.status().message().find(why), std::string::npos) << b.status().ToString();
  };
  Announcement a = Sample();
  a.port = 0;
  refused(a, "port 0");
  a = Sample();
  a.host = std::string(kMaxAnnounceHostBytes + 1, 'h');
  refused(a, "host is 254 bytes");
  a = Sample();
  a.host = "bad host";
  refused(a, "host has a byte outside");
  a = Sample();
  a.host = "0.0.0.0";
  refused(a, "wildcard");
  a = Sample();
  a.version = std::string(65, 'v');
  refused(a, "version is 65 bytes");
  a = Sample();
  a.version = "v\n1";
  refused(a, "version has a byte outside");
  a = Sample();
  a.model_id = "ABCDEF";
  refused(a, "model id has a byte outside");
}

void ExpectRefused(const std::vector<uint8_t>& d, const DiscoveryKey& key, const char* why) {
  auto a = ParseAnnouncement(d.data(), d.size(), key);
  ASSERT_FALSE(a.ok()) << "accepted " << d.size() << " bytes";
  EXPECT_NE(a.status().message().find(why), std::string::npos) << a.status().ToString();
}

TEST(Discovery, WrongSecretIsRefusedByTheTag) {
  auto b = EncodeAnnouncement(Sample(), DeriveDiscoveryKey(kSecret));
  ASSERT_TRUE(b.ok());
  ExpectRefused(*b, DeriveDiscoveryKey(kSecret + "x"), "tag does not match");
}

TEST(Discovery, EveryFlippedByteIsRefused) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  auto b = EncodeAnnouncement(Sample(), key);
  ASSERT_TRUE(b.ok());
  for (size_t i = 0; i < b->size(); ++i) {
    for (uint8_t bit : {0x01, 0x80}) {
      std::vector<uint8_t> d = *b;
      d[i] ^= bit;
      auto a = ParseAnnouncement(d.data(), d.size(), key);
      EXPECT_FALSE(a.ok()) << "byte " << i << " bit " << int(bit);
    }
  }
  // Past the header, the reason is the tag.
  std::vector<uint8_t> d = *b;
  d[20] ^= 1;
  ExpectRefused(d, key, "tag does not match");
}

TEST(Discovery, TruncatedAndOversizeAreRefused) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  auto b = EncodeAnnouncement(Sample(), key);
  ASSERT_TRUE(b.ok());
  for (size_t n = 0; n < b->size(); ++n) {
    std::vector<uint8_t> d(b->begin(), b->begin() + n);
    EXPECT_FALSE(ParseAnnouncement(d.data(), d.size(), key).ok()) << n << " bytes";
  }
  ExpectRefused(std::vector<uint8_t>(b->begin(), b->begin() + 3), key, "truncated");
  ExpectRefused(std::vector<uint8_t>(b->begin(), b->begin() + 40), key, "truncated");
  std::vector<uint8_t> big = *b;
  big.resize(kMaxAnnounceBytes + 1, 0);
  ExpectRefused(big, key, "too long");
  ExpectRefused(std::vector<uint8_t>(60, 0), key, "magic");
}

TEST(Discovery, OtherVersionOrKindIsRefused) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  auto b = EncodeAnnouncement(Sample(), key);
  ASSERT_TRUE(b.ok());
  std::vector<uint8_t> d = *b;
  d[4] = 2;
  auto a = ParseAnnouncement(d.data(), d.size(), key);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(a.status().message().find("discovery version 2"), std::string::npos);
  d = *b;
  d[5] = 9;
  ExpectRefused(d, key, "unknown kind 9");
}

// Well tagged (the sender holds the key) but malformed inside: still refused, by field.
TEST(Discovery, WellTaggedButMalformedIsRefused) {
  const DiscoveryKey key = DeriveDiscoveryKey(kSecret);
  auto retag = [&](std::vector<uint8_t> body) {
    uint8_t tag[32];
    comm::tcp::HmacSha256(key.bytes, 32, body.data(), body.size(), tag);
    body.insert(body.end(), tag, tag + 16);
    return body;
  };
  auto b = EncodeAnnouncement(Sample(), key);
  ASSERT_TRUE(b.ok());
  std::vector<uint8_t> body(b->begin(), b->end() - 16);
  std::vector<uint8_t> d = body;
  d[34] = 200;  // the host's length runs past the tag
  ExpectRefused(retag(d), key, "runs past the tag");
  d = body;
  d.push_back(0);
  ExpectRefused(retag(d), key, "trailing bytes");
  d = body;
  d[6] = d[7] = 0;  // port 0
  ExpectRefused(retag(d), key, "port 0");
  d = body;
  d.back() = 'X';  // the model id's last digit, upper case
  ExpectRefused(retag(d), key, "model id has a byte outside");
}

TEST(Discovery, ReplayGuardWantsAGrowingCounterPerInstance) {
  ReplayGuard g;
  EXPECT_TRUE(g.Accept(1, 5).ok());
  Status again = g.Accept(1, 5);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("replayed"), std::string::npos) << again.ToString();
  EXPECT_FALSE(g.Accept(1, 4).ok());
  EXPECT_TRUE(g.Accept(1, 6).ok());
  EXPECT_TRUE(g.Accept(2, 1).ok());  // another instance has its own counter
  g.Retire(2);
  Status retired = g.Accept(2, 100);
  EXPECT_FALSE(retired.ok());
  EXPECT_NE(retired.message().find("retired"), std::string::npos);
}

TEST(Discovery, ReplayGuardRemembers4096InstancesByDefault) {
  ReplayGuard g;
  for (uint64_t i = 1; i <= 5000; ++i) ASSERT_TRUE(g.Accept(i, 1).ok());
  EXPECT_EQ(g.size(), 4096u);
  EXPECT_FALSE(g.Accept(5000 - 4095, 1).ok());  // the oldest still remembered
  EXPECT_TRUE(g.Accept(5000 - 4096, 1).ok());   // the one before it forgotten
}

TEST(Discovery, ReplayGuardForgetsTheLeastRecentlyHeardWhenFull) {
  ReplayGuard g(3);
  ASSERT_TRUE(g.Accept(1, 1).ok());
  ASSERT_TRUE(g.Accept(2, 1).ok());
  ASSERT_TRUE(g.Accept(3, 1).ok());
  ASSERT_TRUE(g.Accept(1, 2).ok());  // 1 heard again: 2 is now the oldest
  ASSERT_TRUE(g.Accept(4, 1).ok());
  EXPECT_EQ(g.size(), 3u);
  EXPECT_FALSE(g.Accept(1, 2).ok());  // still remembered
  EXPECT_FALSE(g.Accept(3, 1).ok());
  EXPECT_TRUE(g.Accept(2, 1).ok());  // forgotten, so accepted again
}

}  // namespace
}  // namespace shoal::cluster
