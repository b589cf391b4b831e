#include "comm/tcp/handshake.h"

#include <sodium.h>

#include <cstring>

#include "comm/frame.h"

namespace shoal::comm::tcp {
namespace {

constexpr char kDialerLabel[] = "shoal/1 dialer";
constexpr char kAcceptorLabel[] = "shoal/1 acceptor";

void Mac(const std::string& secret, const char* label, const uint8_t* nonce_d,
         const uint8_t* nonce_a, uint8_t out[kMacBytes]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(label),
                                std::strlen(label));
  crypto_auth_hmacsha256_update(&st, nonce_d, kNonceBytes);
  crypto_auth_hmacsha256_update(&st, nonce_a, kNonceBytes);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

// Printable ASCII only, bounded: error text from a peer is untrusted.
std::string Sanitize(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < kMaxErrorBytes; ++i) s += (p[i] >= 32 && p[i] < 127) ? p[i] : '?';
  return s;
}

const char* TypeName(uint8_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kHelloAck:
      return "HELLO_ACK";
    case MsgType::kAuth:
      return "AUTH";
    case MsgType::kAuthOk:
      return "AUTH_OK";
    case MsgType::kError:
      return "ERROR";
    case MsgType::kAssign:
      return "ASSIGN";
    case MsgType::kMesh:
      return "MESH";
    case MsgType::kMeshOk:
      return "MESH_OK";
    case MsgType::kReady:
      return "READY";
    case MsgType::kStart:
      return "START";
  }
  return t == kFrameData ? "DATA" : "unknown";
}

}  // namespace

Status InitCrypto() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return Status::Ok();
}

void RandomBytes(void* out, size_t bytes) { randombytes_buf(out, bytes); }

Status SendMessage(int fd, MsgType type, const void* payload, size_t bytes, Deadline deadline) {
  uint8_t buf[kFrameHeaderBytes + 512];
  FrameHeader h;
  h.type = static_cast<uint8_t>(type);
  h.bytes = bytes;
  EncodeFrameHeader(h, buf);
  if (bytes <= sizeof buf - kFrameHeaderBytes) {  // one write for the small ones
    if (bytes > 0) std::memcpy(buf + kFrameHeaderBytes, payload, bytes);
    return WriteFull(fd, buf, kFrameHeaderBytes + bytes, deadline);
  }
  SHOAL_RETURN_IF_ERROR(WriteFull(fd, buf, kFrameHeaderBytes, deadline));
  return WriteFull(fd, payload, bytes, deadline);
}

Status SendError(int fd, const std::string& text, Deadline deadline) {
  return SendMessage(fd, MsgType::kError, text.data(), std::min(text.size(), kMaxErrorBytes),
                     deadline);
}

StatusOr<Message> ReadMessage(int fd, Deadline deadline) {
  uint8_t hb[kFrameHeaderBytes];
  SHOAL_RETURN_IF_ERROR(ReadFull(fd, hb, sizeof hb, deadline));
  const FrameHeader h = DecodeFrameHeader(hb);
  if (h.magic != kFrameMagic) {
    return Corrupt("not a shoal peer (magic " + std::to_string(h.magic) + ")");
  }
  if (h.bytes > kMaxControlBytes) {
    return Corrupt(std::string(TypeName(h.type)) + " message of " + std::to_string(h.bytes) +
                   " bytes (at most " + std::to_string(kMaxControlBytes) + ")");
  }
  Message m{static_cast<MsgType>(h.type), std::vector<uint8_t>(h.bytes)};
  SHOAL_RETURN_IF_ERROR(ReadFull(fd, m.payload.data(), m.payload.size(), deadline));
  if (m.type == MsgType::kError) {
    return Unavailable("peer says: " + Sanitize(m.payload.data(), m.payload.size()));
  }
  return m;
}

StatusOr<Message> ReadMessageOf(int fd, MsgType want, Deadline deadline) {
  SHOAL_ASSIGN_OR_RETURN(Message m, ReadMessage(fd, deadline));
  if (m.type != want) {
    return Corrupt(std::string("expected ") + TypeName(static_cast<uint8_t>(want)) + ", got " +
                   TypeName(static_cast<uint8_t>(m.type)));
  }
  return m;
}

Status AuthenticateAsDialer(int fd, const std::string& secret, Deadline deadline) {
  uint8_t hello[2 + kNonceBytes];
  PutU16(hello, kProtocolVersion);
  RandomBytes(hello + 2, kNonceBytes);
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kHello, hello, sizeof hello, deadline));
  auto ack = ReadMessageOf(fd, MsgType::kHelloAck, deadline);
  if (!ack.ok()) return ack.status().With("handshake");
  if (ack->payload.size() != 2 + kNonceBytes + kMacBytes) return Corrupt("bad HELLO_ACK length");
  const uint16_t version = GetU16(ack->payload.data());
  if (version != kProtocolVersion) {
    return Unimplemented("peer speaks protocol version " + std::to_string(version) + ", we " +
                         std::to_string(kProtocolVersion));
  }
  const uint8_t* nonce_a = ack->payload.data() + 2;
  uint8_t want[kMacBytes];
  Mac(secret, kAcceptorLabel, hello + 2, nonce_a, want);
  if (sodium_memcmp(want, nonce_a + kNonceBytes, kMacBytes) != 0) {
    (void)SendError(fd, "authentication failed: your proof does not match our cluster secret",
                    deadline);
    return InvalidArgument(
        "authentication failed: the peer does not know our cluster secret (wrong secret on one "
        "side); nothing was sent");
  }
  uint8_t mac_d[kMacBytes];
  Mac(secret, kDialerLabel, hello + 2, nonce_a, mac_d);
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kAuth, mac_d, sizeof mac_d, deadline));
  auto ok = ReadMessageOf(fd, MsgType::kAuthOk, deadline);
  if (!ok.ok()) return InvalidArgument("authentication failed: " + ok.status().message());
  return Status::Ok();
}

Status AuthenticateAsAcceptor(int fd, const std::string& secret, Deadline deadline) {
  auto hello = ReadMessageOf(fd, MsgType::kHello, deadline);
  if (!hello.ok()) return hello.status().With("handshake");
  if (hello->payload.size() != 2 + kNonceBytes) return Corrupt("bad HELLO length");
  const uint16_t version = GetU16(hello->payload.data());
  if (version != kProtocolVersion) {
    const std::string why = "protocol version " + std::to_string(version) + " is not " +
                            std::to_string(kProtocolVersion);
    (void)SendError(fd, why, deadline);
    return Unimplemented("peer speaks " + why);
  }
  const uint8_t* nonce_d = hello->payload.data() + 2;
  uint8_t ack[2 + kNonceBytes + kMacBytes];
  PutU16(ack, kProtocolVersion);
  RandomBytes(ack + 2, kNonceBytes);
  Mac(secret, kAcceptorLabel, nonce_d, ack + 2, ack + 2 + kNonceBytes);
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kHelloAck, ack, sizeof ack, deadline));
  auto auth = ReadMessageOf(fd, MsgType::kAuth, deadline);
  if (!auth.ok()) {
    if (auth.status().message().find("peer says: authentication failed") == 0) {
      return InvalidArgument(
          "authentication failed: the dialer does not accept our proof (wrong cluster secret on "
          "one side)");
    }
    return auth.status().With("handshake");
  }
  uint8_t want[kMacBytes];
  Mac(secret, kDialerLabel, nonce_d, ack + 2, want);
  if (auth->payload.size() != kMacBytes || sodium_memcmp(want, auth->payload.data(), kMacBytes)) {
    (void)SendError(fd, "authentication failed: your proof does not match our cluster secret",
                    deadline);
    return InvalidArgument(
        "authentication failed: the dialer does not know our cluster secret (wrong secret on one "
        "side)");
  }
  return SendMessage(fd, MsgType::kAuthOk, nullptr, 0, deadline);
}

std::vector<uint8_t> EncodeAssign(const Assignment& a) {
  std::vector<uint8_t> p(kSessionBytes + 8);
  std::memcpy(p.data(), a.session, kSessionBytes);
  PutU32(p.data() + kSessionBytes, a.rank);
  PutU32(p.data() + kSessionBytes + 4, a.world);
  for (uint32_t r = 1; r < a.world; ++r) {
    const std::string& s = a.addresses[r];
    p.push_back(static_cast<uint8_t>(s.size()));
    p.insert(p.end(), s.begin(), s.end());
  }
  return p;
}

StatusOr<Assignment> DecodeAssign(const std::vector<uint8_t>& p) {
  Assignment a;
  if (p.size() < kSessionBytes + 8) return Corrupt("ASSIGN too short");
  std::memcpy(a.session, p.data(), kSessionBytes);
  a.rank = GetU32(p.data() + kSessionBytes);
  a.world = GetU32(p.data() + kSessionBytes + 4);
  if (a.world < 2 || a.world > static_cast<uint32_t>(kMaxWorld) || a.rank < 1 ||
      a.rank >= a.world) {
    return Corrupt("ASSIGN with rank " + std::to_string(a.rank) + " of world " +
                   std::to_string(a.world));
  }
  a.addresses.resize(a.world);
  size_t at = kSessionBytes + 8;
  for (uint32_t r = 1; r < a.world; ++r) {
    if (at >= p.size() || p[at] == 0 || at + 1 + p[at] > p.size()) {
      return Corrupt("ASSIGN address list truncated at rank " + std::to_string(r));
    }
    a.addresses[r].assign(reinterpret_cast<const char*>(p.data()) + at + 1, p[at]);
    at += 1 + p[at];
  }
  if (at != p.size()) return Corrupt("ASSIGN has trailing bytes");
  return a;
}

}  // namespace shoal::comm::tcp
