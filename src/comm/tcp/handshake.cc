#include "comm/tcp/handshake.h"

#include <sodium.h>

#include <cstring>
#include <initializer_list>

#include "comm/frame.h"

namespace shoal::comm::tcp {
namespace {

constexpr char kDialerLabel[] = "shoal/2 dialer";
constexpr char kAcceptorLabel[] = "shoal/2 acceptor";
constexpr char kKeyD2A[] = "shoal/2 key dialer->acceptor";
constexpr char kKeyA2D[] = "shoal/2 key acceptor->dialer";

// HMAC-SHA256(secret, label | parts...).
void Mac(const std::string& secret, const char* label,
         std::initializer_list<std::string_view> parts, uint8_t out[kMacBytes]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(label),
                                std::strlen(label));
  for (std::string_view p : parts) {
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

std::string_view View(const uint8_t* p, size_t n) {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

// The parameters each proof covers, so that nobody on the path can change them unnoticed.
std::string Transcript(const uint8_t* nonce_d, const uint8_t* nonce_a, uint8_t security_a,
                       uint8_t ciphers_a) {
  std::string t(View(nonce_d, kNonceBytes));
  t.append(View(nonce_a, kNonceBytes));
  t.push_back(static_cast<char>(security_a));
  t.push_back(static_cast<char>(ciphers_a));
  return t;
}

// One key per direction from the secret and both nonces, bound to the protocol version (labels),
// the roles, the link security and the cipher.
void DeriveKeys(const std::string& secret, const uint8_t* nonce_d, const uint8_t* nonce_a,
                uint8_t security, uint8_t cipher, uint8_t d2a[kKeyBytes], uint8_t a2d[kKeyBytes]) {
  uint8_t salt[2 * kNonceBytes];
  std::memcpy(salt, nonce_d, kNonceBytes);
  std::memcpy(salt + kNonceBytes, nonce_a, kNonceBytes);
  for (int dir = 0; dir < 2; ++dir) {
    std::string info = dir == 0 ? kKeyD2A : kKeyA2D;
    info.push_back(static_cast<char>(security));
    info.push_back(static_cast<char>(cipher));
    HkdfSha256(salt, sizeof salt, reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
               reinterpret_cast<const uint8_t*>(info.data()), info.size(), dir == 0 ? d2a : a2d);
  }
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

uint8_t Offered(const LinkParams& link) {
  const uint8_t available = CiphersAvailable();
  return link.ciphers == 0 ? available : (link.ciphers & available);
}

std::string SecurityText(uint8_t s) {
  return s <= 2 ? std::string(LinkSecurityName(static_cast<LinkSecurity>(s)))
                : "unknown (" + std::to_string(s) + ")";
}

std::string Mismatch(LinkSecurity ours, uint8_t theirs) {
  return "link security mismatch: this node uses --link-security " +
         std::string(LinkSecurityName(ours)) + ", the peer " + SecurityText(theirs) +
         " (use the same on every node)";
}

std::string VersionText(uint16_t v) {
  return "protocol version " + std::to_string(v) + " is not " + std::to_string(kProtocolVersion) +
         " (every node must run the same shoal release)";
}

const char kWrongSecret[] = "authentication failed: your proof does not match our cluster secret";

}  // namespace

void HkdfSha256(const uint8_t* salt, size_t salt_bytes, const uint8_t* ikm, size_t ikm_bytes,
                const uint8_t* info, size_t info_bytes, uint8_t out[32]) {
  uint8_t prk[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, salt, salt_bytes);
  crypto_auth_hmacsha256_update(&st, ikm, ikm_bytes);
  crypto_auth_hmacsha256_final(&st, prk);
  const uint8_t one = 1;
  crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
  crypto_auth_hmacsha256_update(&st, info, info_bytes);
  crypto_auth_hmacsha256_update(&st, &one, 1);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
  sodium_memzero(prk, sizeof prk);
}

void HmacSha256(const uint8_t* key, size_t key_bytes, const uint8_t* data, size_t bytes,
                uint8_t out[32]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, key_bytes);
  crypto_auth_hmacsha256_update(&st, data, bytes);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

bool EqualConstantTime(const void* a, const void* b, size_t bytes) {
  return sodium_memcmp(a, b, bytes) == 0;
}

Status CheckSecret(std::string_view secret) {
  const char* how =
      "; make one with `shoal secret -o FILE` and give every node the same file (--secret-file "
      "FILE or SHOAL_SECRET=$(cat FILE))";
  if (secret.size() < kMinSecretBytes) {
    return InvalidArgument("the cluster secret is too short (" + std::to_string(secret.size()) +
                           " bytes; at least " + std::to_string(kMinSecretBytes) + ")" + how);
  }
  bool seen[256] = {};
  size_t distinct = 0;
  for (unsigned char c : secret) {
    if (!seen[c]) ++distinct;
    seen[c] = true;
  }
  if (distinct < kMinSecretDistinctBytes) {
    return InvalidArgument("the cluster secret is too weak (only " + std::to_string(distinct) +
                           " different characters; at least " +
                           std::to_string(kMinSecretDistinctBytes) + ")" + how);
  }
  return Status::Ok();
}

Status InitCrypto() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return Status::Ok();
}

void RandomBytes(void* out, size_t bytes) { randombytes_buf(out, bytes); }

Status CheckControlHeader(const FrameHeader& h) {
  if (h.magic != kFrameMagic) {
    return Corrupt("not a shoal peer (magic " + std::to_string(h.magic) + ")");
  }
  if (h.bytes > kMaxControlBytes) {
    return Corrupt(std::string(TypeName(h.type)) + " message of " + std::to_string(h.bytes) +
                   " bytes (at most " + std::to_string(kMaxControlBytes) + ")");
  }
  return Status::Ok();
}

Status SendMessage(int fd, MsgType type, const void* payload, size_t bytes, Deadline deadline,
                   Channel* ch) {
  if (bytes > kMaxControlBytes) return Internal("control message too large");
  const size_t tag = ch != nullptr ? ch->tag_bytes() : 0;
  std::vector<uint8_t> buf(kFrameHeaderBytes + bytes + tag);
  FrameHeader h;
  h.type = static_cast<uint8_t>(type);
  h.bytes = bytes;
  EncodeFrameHeader(h, buf.data());
  if (bytes > 0) std::memcpy(buf.data() + kFrameHeaderBytes, payload, bytes);
  if (ch != nullptr) {
    uint8_t* body = buf.data() + kFrameHeaderBytes;
    SHOAL_RETURN_IF_ERROR(ch->Seal(buf.data(), body, bytes, body, body + bytes));
  }
  return WriteFull(fd, buf.data(), buf.size(), deadline);
}

Status SendError(int fd, const std::string& text, Deadline deadline, Channel* ch) {
  return SendMessage(fd, MsgType::kError, text.data(), std::min(text.size(), kMaxErrorBytes),
                     deadline, ch);
}

StatusOr<Message> ReadMessage(int fd, Deadline deadline, Channel* ch) {
  uint8_t hb[kFrameHeaderBytes];
  SHOAL_RETURN_IF_ERROR(ReadFull(fd, hb, sizeof hb, deadline));
  const FrameHeader h = DecodeFrameHeader(hb);
  SHOAL_RETURN_IF_ERROR(CheckControlHeader(h));
  // A refusal sent before the peer had keys comes plain, and only as the first frame.
  const bool plain_refusal = ch != nullptr && ch->received_frames() == 0 &&
                             h.type == static_cast<uint8_t>(MsgType::kError);
  const size_t tag = ch != nullptr && !plain_refusal ? ch->tag_bytes() : 0;
  Message m{static_cast<MsgType>(h.type), std::vector<uint8_t>(h.bytes + tag)};
  SHOAL_RETURN_IF_ERROR(ReadFull(fd, m.payload.data(), m.payload.size(), deadline));
  if (ch != nullptr && !plain_refusal) {
    SHOAL_RETURN_IF_ERROR(ch->Open(hb, m.payload.data(), h.bytes, m.payload.data() + h.bytes));
    m.payload.resize(h.bytes);
  }
  if (m.type == MsgType::kError) {
    return Unavailable("peer says: " + Sanitize(m.payload.data(), m.payload.size()));
  }
  return m;
}

StatusOr<Message> ReadMessageOf(int fd, MsgType want, Deadline deadline, Channel* ch) {
  SHOAL_ASSIGN_OR_RETURN(Message m, ReadMessage(fd, deadline, ch));
  if (m.type != want) {
    return Corrupt(std::string("expected ") + TypeName(static_cast<uint8_t>(want)) + ", got " +
                   TypeName(static_cast<uint8_t>(m.type)));
  }
  return m;
}

StatusOr<Hello> DecodeHello(const std::vector<uint8_t>& p) {
  Hello h;
  if (p.size() < 2) return Corrupt("HELLO too short");
  h.version = GetU16(p.data());
  if (h.version != kProtocolVersion) return Unimplemented(VersionText(h.version));
  if (p.size() != kHelloBytes) return Corrupt("bad HELLO length " + std::to_string(p.size()));
  std::memcpy(h.nonce, p.data() + 2, kNonceBytes);
  return h;
}

StatusOr<HelloAck> DecodeHelloAck(const std::vector<uint8_t>& p) {
  HelloAck a;
  if (p.size() < 2) return Corrupt("HELLO_ACK too short");
  a.version = GetU16(p.data());
  if (a.version != kProtocolVersion) return Unimplemented(VersionText(a.version));
  if (p.size() != kHelloAckBytes) {
    return Corrupt("bad HELLO_ACK length " + std::to_string(p.size()));
  }
  std::memcpy(a.nonce, p.data() + 2, kNonceBytes);
  a.security = p[2 + kNonceBytes];
  a.ciphers = p[3 + kNonceBytes];
  std::memcpy(a.mac, p.data() + 4 + kNonceBytes, kMacBytes);
  return a;
}

StatusOr<AuthMsg> DecodeAuth(const std::vector<uint8_t>& p) {
  AuthMsg a;
  if (p.size() != kAuthBytes) return Corrupt("bad AUTH length " + std::to_string(p.size()));
  a.security = p[0];
  a.cipher = p[1];
  std::memcpy(a.mac, p.data() + 2, kMacBytes);
  return a;
}

StatusOr<std::unique_ptr<Channel>> AuthenticateAsDialer(int fd, const LinkParams& link,
                                                        Deadline deadline) {
  uint8_t hello[kHelloBytes];
  PutU16(hello, kProtocolVersion);
  RandomBytes(hello + 2, kNonceBytes);
  const uint8_t* nonce_d = hello + 2;
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kHello, hello, sizeof hello, deadline));
  auto msg = ReadMessageOf(fd, MsgType::kHelloAck, deadline);
  if (!msg.ok()) {
    if (msg.status().message().find("peer says: protocol version") == 0) {
      return Unimplemented("the peer does not speak protocol version " +
                           std::to_string(kProtocolVersion) +
                           " (it says: " + msg.status().message().substr(11) +
                           "); every node must run the same shoal release");
    }
    return msg.status().With("handshake");
  }
  auto ack = DecodeHelloAck(msg->payload);
  if (!ack.ok()) return ack.status().With("handshake");
  const std::string transcript = Transcript(nonce_d, ack->nonce, ack->security, ack->ciphers);
  uint8_t want[kMacBytes];
  Mac(link.secret, kAcceptorLabel, {transcript}, want);
  if (sodium_memcmp(want, ack->mac, kMacBytes) != 0) {
    (void)SendError(fd, kWrongSecret, deadline);
    return InvalidArgument(
        "authentication failed: the peer does not know our cluster secret (wrong secret on one "
        "side); nothing was sent");
  }
  if (ack->security != static_cast<uint8_t>(link.security)) {
    const std::string why = Mismatch(link.security, ack->security);
    (void)SendError(fd,
                    "link security mismatch: the dialer uses --link-security " +
                        std::string(LinkSecurityName(link.security)) + ", this node " +
                        SecurityText(ack->security) + " (use the same on every node)",
                    deadline);
    return InvalidArgument(why);
  }
  const uint8_t common = ack->ciphers & Offered(link);
  const Cipher cipher =
      (common & CipherBit(Cipher::kAes256Gcm)) ? Cipher::kAes256Gcm : Cipher::kChaCha20Poly1305;
  if (link.security != LinkSecurity::kNone && (common & CipherBit(cipher)) == 0) {
    (void)SendError(fd, "no cipher in common", deadline);
    return Unimplemented("the peer offers no cipher this node runs");
  }
  uint8_t auth[kAuthBytes];
  auth[0] = static_cast<uint8_t>(link.security);
  auth[1] = static_cast<uint8_t>(cipher);
  Mac(link.secret, kDialerLabel, {transcript, View(auth, 2)}, auth + 2);
  uint8_t d2a[kKeyBytes], a2d[kKeyBytes];
  DeriveKeys(link.secret, nonce_d, ack->nonce, auth[0], auth[1], d2a, a2d);
  auto ch = Channel::Create(link.security, cipher, d2a, a2d);
  sodium_memzero(d2a, sizeof d2a);
  sodium_memzero(a2d, sizeof a2d);
  if (!ch.ok()) return ch.status();
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kAuth, auth, sizeof auth, deadline));
  auto ok = ReadMessageOf(fd, MsgType::kAuthOk, deadline, ch->get());
  if (!ok.ok()) return InvalidArgument("authentication failed: " + ok.status().message());
  return ch;
}

StatusOr<std::unique_ptr<Channel>> AuthenticateAsAcceptor(int fd, const LinkParams& link,
                                                          Deadline deadline) {
  auto msg = ReadMessageOf(fd, MsgType::kHello, deadline);
  if (!msg.ok()) return msg.status().With("handshake");
  auto hello = DecodeHello(msg->payload);
  if (!hello.ok()) {
    (void)SendError(fd, hello.status().message(), deadline);
    return hello.status().With("handshake");
  }
  uint8_t ack[kHelloAckBytes];
  PutU16(ack, kProtocolVersion);
  uint8_t* nonce_a = ack + 2;
  RandomBytes(nonce_a, kNonceBytes);
  const uint8_t offered = Offered(link);
  ack[2 + kNonceBytes] = static_cast<uint8_t>(link.security);
  ack[3 + kNonceBytes] = offered;
  const std::string transcript =
      Transcript(hello->nonce, nonce_a, static_cast<uint8_t>(link.security), offered);
  Mac(link.secret, kAcceptorLabel, {transcript}, ack + 4 + kNonceBytes);
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kHelloAck, ack, sizeof ack, deadline));
  auto reply = ReadMessageOf(fd, MsgType::kAuth, deadline);
  if (!reply.ok()) {
    const std::string& m = reply.status().message();
    if (m.find("peer says: authentication failed") == 0) {
      return InvalidArgument(
          "authentication failed: the dialer does not accept our proof (wrong cluster secret on "
          "one side)");
    }
    if (m.find("peer says: link security mismatch") == 0) {
      return InvalidArgument(m.substr(11));  // the dialer's words, without "peer says: "
    }
    return reply.status().With("handshake");
  }
  auto auth = DecodeAuth(reply->payload);
  uint8_t want[kMacBytes];
  if (auth.ok()) {
    Mac(link.secret, kDialerLabel, {transcript, View(reply->payload.data(), 2)}, want);
  }
  if (!auth.ok() || sodium_memcmp(want, auth->mac, kMacBytes) != 0) {
    (void)SendError(fd, kWrongSecret, deadline);
    return InvalidArgument(
        "authentication failed: the dialer does not know our cluster secret (wrong secret on one "
        "side)");
  }
  if (auth->security != static_cast<uint8_t>(link.security)) {
    (void)SendError(fd, "link security mismatch", deadline);
    return InvalidArgument(Mismatch(link.security, auth->security));
  }
  const bool known = auth->cipher == static_cast<uint8_t>(Cipher::kAes256Gcm) ||
                     auth->cipher == static_cast<uint8_t>(Cipher::kChaCha20Poly1305);
  if (link.security != LinkSecurity::kNone &&
      (!known || (offered & CipherBit(static_cast<Cipher>(auth->cipher))) == 0)) {
    (void)SendError(fd, "cipher " + std::to_string(auth->cipher) + " was not offered", deadline);
    return Corrupt("the dialer chose cipher " + std::to_string(auth->cipher) +
                   ", which we did not offer");
  }
  uint8_t d2a[kKeyBytes], a2d[kKeyBytes];
  DeriveKeys(link.secret, hello->nonce, nonce_a, auth->security, auth->cipher, d2a, a2d);
  auto ch = Channel::Create(link.security,
                            known ? static_cast<Cipher>(auth->cipher) : Cipher::kChaCha20Poly1305,
                            a2d, d2a);
  sodium_memzero(d2a, sizeof d2a);
  sodium_memzero(a2d, sizeof a2d);
  if (!ch.ok()) return ch.status();
  SHOAL_RETURN_IF_ERROR(SendMessage(fd, MsgType::kAuthOk, nullptr, 0, deadline, ch->get()));
  return ch;
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

namespace shoal::comm::tcp {

StatusOr<MeshHello> DecodeMesh(const Message& m) {
  if (m.type != MsgType::kMesh || m.payload.size() != kSessionBytes + 4) {
    return Corrupt("expected a MESH message");
  }
  MeshHello h;
  std::memcpy(h.session, m.payload.data(), kSessionBytes);
  h.rank = GetU32(m.payload.data() + kSessionBytes);
  return h;
}

}  // namespace shoal::comm::tcp
