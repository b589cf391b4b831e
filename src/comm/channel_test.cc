// Channel (sealed frames) against libsodium's combined AEAD calls as the reference, HKDF against
// RFC 5869's test vector, and the weak-secret rule.
#include "comm/channel.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <vector>

#include "comm/tcp/handshake.h"
#include "comm/tcp/tcp.h"

namespace shoal::comm {
namespace {

std::vector<uint8_t> Hex(const char* s) {
  std::vector<uint8_t> v;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2) {
    v.push_back(static_cast<uint8_t>(std::stoi(std::string(s + i, 2), nullptr, 16)));
  }
  return v;
}

TEST(Hkdf, MatchesRfc5869TestCase1) {
  const std::vector<uint8_t> ikm(22, 0x0b), salt = Hex("000102030405060708090a0b0c"),
                                            info = Hex("f0f1f2f3f4f5f6f7f8f9");
  uint8_t out[32];
  tcp::HkdfSha256(salt.data(), salt.size(), ikm.data(), ikm.size(), info.data(), info.size(), out);
  // The first 32 bytes of the RFC's 42-byte OKM.
  const std::vector<uint8_t> want =
      Hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  EXPECT_EQ(std::vector<uint8_t>(out, out + 32), want);
}

TEST(Secret, WeakSecretsAreRefusedWithHowToMakeOne) {
  EXPECT_TRUE(
      tcp::CheckSecret("4eadbcf5f8e75ae0eec3d0190608259d08b45a6948d12cc7d3adccd82778cc0a").ok());
  EXPECT_TRUE(tcp::CheckSecret("correct horse battery staple, 2026").ok());
  for (const std::string& weak :
       {std::string("short"), std::string(31, 'x') + "y", std::string(64, 'a'),
        std::string("ab").append(30, 'c'), std::string("012345").append(40, '6')}) {
    const Status s = tcp::CheckSecret(weak);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << weak;
    EXPECT_NE(s.message().find("shoal secret"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(tcp::NewClusterSecret().size(), 64u);
  EXPECT_TRUE(tcp::CheckSecret(tcp::NewClusterSecret()).ok());
}

struct Pair {
  std::unique_ptr<Channel> a, b;  // a sends to b with key k1, b to a with key k2
};

Pair MakePair(LinkSecurity s, Cipher c, const uint8_t* k1, const uint8_t* k2) {
  auto a = Channel::Create(s, c, k1, k2);
  auto b = Channel::Create(s, c, k2, k1);
  EXPECT_TRUE(a.ok() && b.ok());
  return {std::move(*a), std::move(*b)};
}

std::vector<Cipher> Ciphers() {
  std::vector<Cipher> v = {Cipher::kChaCha20Poly1305};
  if (CiphersAvailable() & CipherBit(Cipher::kAes256Gcm)) v.push_back(Cipher::kAes256Gcm);
  return v;
}

void Header(uint64_t bytes, uint8_t out[kFrameHeaderBytes]) {
  FrameHeader h;
  h.op = static_cast<uint8_t>(Op::kAllReduce);
  h.bytes = bytes;
  EncodeFrameHeader(h, out);
}

TEST(Channel, SealMatchesLibsodiumAndOpensInPlace) {
  uint8_t k1[kKeyBytes], k2[kKeyBytes];
  randombytes_buf(k1, sizeof k1);
  randombytes_buf(k2, sizeof k2);
  for (Cipher c : Ciphers()) {
    SCOPED_TRACE(std::string(CipherName(c)));
    Pair p = MakePair(LinkSecurity::kSeal, c, k1, k2);
    uint64_t seq = 0;  // the frames' implicit sequence numbers
    for (int round = 0; round < 3; ++round) {
      for (size_t n : {size_t{0}, size_t{1}, size_t{28672}}) {
        std::vector<uint8_t> msg(n);
        randombytes_buf(msg.data(), n);
        uint8_t h[kFrameHeaderBytes], tag[kTagBytes];
        Header(n, h);
        std::vector<uint8_t> ct(n);
        ASSERT_TRUE(p.a->Seal(h, msg.data(), n, ct.data(), tag).ok());
        // Reference: the combined call, nonce = seq (u64 little-endian) then 4 zero bytes.
        uint8_t nonce[12] = {};
        for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(seq >> (8 * i));
        std::vector<uint8_t> ref(n + kTagBytes);
        unsigned long long ref_len = 0;
        if (c == Cipher::kAes256Gcm) {
          crypto_aead_aes256gcm_encrypt(ref.data(), &ref_len, msg.data(), n, h, sizeof h, nullptr,
                                        nonce, k1);
        } else {
          crypto_aead_chacha20poly1305_ietf_encrypt(ref.data(), &ref_len, msg.data(), n, h,
                                                    sizeof h, nullptr, nonce, k1);
        }
        ASSERT_EQ(ref_len, n + kTagBytes);
        EXPECT_EQ(0, std::memcmp(ref.data(), ct.data(), n));
        EXPECT_EQ(0, std::memcmp(ref.data() + n, tag, kTagBytes));
        ASSERT_TRUE(p.b->Open(h, ct.data(), n, tag).ok());  // in place
        EXPECT_EQ(ct, msg);
        ++seq;
      }
    }
  }
}

// Altered payload, altered header, replayed, reordered and dropped frames all fail; auth mode
// leaves the payload in clear and still detects each.
TEST(Channel, TamperingReplayReorderAndDropAreDetected) {
  uint8_t k1[kKeyBytes], k2[kKeyBytes];
  randombytes_buf(k1, sizeof k1);
  randombytes_buf(k2, sizeof k2);
  for (LinkSecurity s : {LinkSecurity::kSeal, LinkSecurity::kAuth}) {
    for (Cipher c : Ciphers()) {
      SCOPED_TRACE(std::string(LinkSecurityName(s)) + " " + std::string(CipherName(c)));
      const size_t n = 64;
      struct Frame {
        uint8_t h[kFrameHeaderBytes];
        std::vector<uint8_t> body;
        uint8_t tag[kTagBytes];
      };
      auto make = [&](Channel& ch, uint8_t fill) {
        Frame f;
        Header(n, f.h);
        std::vector<uint8_t> msg(n, fill);
        f.body.resize(n);
        EXPECT_TRUE(ch.Seal(f.h, msg.data(), n, f.body.data(), f.tag).ok());
        if (s == LinkSecurity::kAuth) f.body = msg;  // clear text travels
        return f;
      };
      auto open = [&](Channel& ch, Frame& f) { return ch.Open(f.h, f.body.data(), n, f.tag); };
      {  // one flipped bit anywhere
        for (int where = 0; where < 3; ++where) {
          Pair p = MakePair(s, c, k1, k2);
          Frame f = make(*p.a, 7);
          if (where == 0) f.body[n / 2] ^= 1;
          if (where == 1) f.h[6] ^= 1;  // the reserved field: only the tag protects it
          if (where == 2) f.tag[0] ^= 1;
          const Status st = open(*p.b, f);
          EXPECT_EQ(st.code(), StatusCode::kCorrupt) << where;
          EXPECT_NE(st.message().find("failed authentication"), std::string::npos);
        }
      }
      {  // replay
        Pair p = MakePair(s, c, k1, k2);
        Frame f0 = make(*p.a, 1);
        Frame again = f0;  // the same wire bytes, sent twice
        ASSERT_TRUE(open(*p.b, f0).ok());
        EXPECT_EQ(open(*p.b, again).code(), StatusCode::kCorrupt);
      }
      {  // reorder
        Pair p = MakePair(s, c, k1, k2);
        Frame f0 = make(*p.a, 1), f1 = make(*p.a, 2);
        EXPECT_EQ(open(*p.b, f1).code(), StatusCode::kCorrupt);
      }
      {  // drop
        Pair p = MakePair(s, c, k1, k2);
        Frame f0 = make(*p.a, 1), f1 = make(*p.a, 2), f2 = make(*p.a, 3);
        ASSERT_TRUE(open(*p.b, f0).ok());
        EXPECT_EQ(open(*p.b, f2).code(), StatusCode::kCorrupt);
      }
      {  // the other direction's key, or a frame reflected back to its sender
        Pair p = MakePair(s, c, k1, k2);
        Frame f0 = make(*p.a, 1);
        EXPECT_EQ(open(*p.a, f0).code(), StatusCode::kCorrupt);
      }
      {  // in order: fine, and seal really hides the payload
        Pair p = MakePair(s, c, k1, k2);
        Frame f0 = make(*p.a, 9);
        EXPECT_EQ(f0.body == std::vector<uint8_t>(n, 9), s == LinkSecurity::kAuth);
        ASSERT_TRUE(open(*p.b, f0).ok());
        EXPECT_EQ(f0.body, std::vector<uint8_t>(n, 9));
      }
    }
  }
}

}  // namespace
}  // namespace shoal::comm
