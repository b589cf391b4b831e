// The tcp control protocol (docs/wire-protocol.md): control messages framed like data frames
// (frame.h) with a bounded length, the mutual HMAC-SHA256 challenge/response, and the key
// agreement that gives each connection its Channel (channel.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm/channel.h"
#include "comm/frame.h"
#include "comm/tcp/socket.h"

namespace shoal::comm::tcp {

// 3: every rank's step time rides on the logits gather (runtime/step_times.h). 2: sealed frames
// after the handshake, link security and cipher negotiated. 1: plain frames.
inline constexpr uint16_t kProtocolVersion = 3;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kSessionBytes = 16;
inline constexpr size_t kMaxControlBytes = 64 * 1024;  // bound on any control payload
inline constexpr size_t kMaxErrorBytes = 1024;
inline constexpr size_t kMaxAddressBytes = 255;
inline constexpr int kMaxWorld = 1024;
inline constexpr size_t kHelloBytes = 2 + kNonceBytes;                     // 34, as in version 1
inline constexpr size_t kHelloAckBytes = 2 + kNonceBytes + 2 + kMacBytes;  // 68
inline constexpr size_t kAuthBytes = 2 + kMacBytes;                        // 34

enum class MsgType : uint8_t {
  kHello = 0x01,     // dialer -> acceptor: u16 version, nonce_d[32]
  kHelloAck = 0x02,  // acceptor -> dialer: u16 version, nonce_a[32], u8 security, u8 ciphers,
                     //   mac_a[32]
  kAuth = 0x03,      // dialer -> acceptor: u8 security, u8 cipher, mac_d[32]
  kAuthOk = 0x04,    // acceptor -> dialer: empty (the first sealed frame)
  kError = 0x05,     // either way: UTF-8 text (<= 1024 bytes); the sender then closes
  kAssign = 0x06,    // rank 0 -> worker: session[16], u32 rank, u32 world, world-1 addresses
  kMesh = 0x07,      // worker -> worker: session[16], u32 rank of the dialer
  kMeshOk = 0x08,    // empty
  kReady = 0x09,     // worker -> rank 0: empty (its mesh is up)
  kStart = 0x0A,     // rank 0 -> worker: empty (every mesh is up)
};

struct Message {
  MsgType type;
  std::vector<uint8_t> payload;
};

// What a node brings to a handshake: the cluster secret, the link security it insists on, and
// the ciphers it offers (bits of CipherBit; 0: every cipher this CPU runs).
struct LinkParams {
  std::string secret;
  LinkSecurity security = LinkSecurity::kSeal;
  uint8_t ciphers = 0;
};

// The weak-secret rule: a cluster secret must be at least kMinSecretBytes long with at least
// kMinSecretDistinctBytes different byte values (`shoal secret` writes 64 random hex digits).
// InvalidArgument saying how to make one otherwise.
inline constexpr size_t kMinSecretBytes = 32;
inline constexpr size_t kMinSecretDistinctBytes = 8;
Status CheckSecret(std::string_view secret);

// Control messages. With a channel (after the handshake) they are sealed like data frames: the
// payload (encrypted under kSeal) is followed by the tag. Without one they travel plain.
Status SendMessage(int fd, MsgType type, const void* payload, size_t bytes, Deadline deadline,
                   Channel* ch = nullptr);
Status SendError(int fd, const std::string& text, Deadline deadline, Channel* ch = nullptr);
// Reads one control message (payload <= kMaxControlBytes, checked before allocating). A kError
// from the peer is returned as an error carrying its text ("peer says: ..."). With a channel a
// plain kError is accepted only as the first frame (a refusal sent before the peer had keys).
StatusOr<Message> ReadMessage(int fd, Deadline deadline, Channel* ch = nullptr);
// ReadMessage, then checks the type.
StatusOr<Message> ReadMessageOf(int fd, MsgType want, Deadline deadline, Channel* ch = nullptr);
// The checks a control header gets before its payload is read (magic, length bound).
Status CheckControlHeader(const FrameHeader& h);

// Mutual authentication and key agreement: each side proves it knows the secret (HMAC-SHA256
// over both nonces and the offered parameters, a different label per direction), checks the
// other's proof in constant time, and both derive one key per direction (HKDF-SHA256). Link
// security must be the same on both sides; the cipher is AES-256-GCM when both offer it, else
// ChaCha20-Poly1305. On failure the side that detects it sends kError; both return an error that
// says which (wrong secret, link security mismatch, protocol version).
StatusOr<std::unique_ptr<Channel>> AuthenticateAsDialer(int fd, const LinkParams& link,
                                                        Deadline deadline);
StatusOr<std::unique_ptr<Channel>> AuthenticateAsAcceptor(int fd, const LinkParams& link,
                                                          Deadline deadline);

// The handshake's messages, parsed (exact sizes; fuzzed in tests/fuzz).
struct Hello {
  uint16_t version = 0;
  uint8_t nonce[kNonceBytes];
};
struct HelloAck {
  uint16_t version = 0;
  uint8_t nonce[kNonceBytes];
  uint8_t security = 0;
  uint8_t ciphers = 0;
  uint8_t mac[kMacBytes];
};
struct AuthMsg {
  uint8_t security = 0;
  uint8_t cipher = 0;
  uint8_t mac[kMacBytes];
};
// Version first: a peer of another version gets a version error whatever the length.
StatusOr<Hello> DecodeHello(const std::vector<uint8_t>& payload);
StatusOr<HelloAck> DecodeHelloAck(const std::vector<uint8_t>& payload);
StatusOr<AuthMsg> DecodeAuth(const std::vector<uint8_t>& payload);

// HKDF-SHA256 (RFC 5869) with one output block, on libsodium's HMAC-SHA256: PRK = HMAC(salt,
// ikm), OKM = HMAC(PRK, info | 0x01). Exposed for its test vector.
void HkdfSha256(const uint8_t* salt, size_t salt_bytes, const uint8_t* ikm, size_t ikm_bytes,
                const uint8_t* info, size_t info_bytes, uint8_t out[32]);
// HMAC-SHA256(key, data) (libsodium), for other layers' tags (cluster/discovery.h).
void HmacSha256(const uint8_t* key, size_t key_bytes, const uint8_t* data, size_t bytes,
                uint8_t out[32]);
// Compares in time independent of the contents (libsodium's sodium_memcmp).
bool EqualConstantTime(const void* a, const void* b, size_t bytes);

struct Assignment {
  uint8_t session[kSessionBytes];
  uint32_t rank = 0;
  uint32_t world = 0;
  std::vector<std::string> addresses;  // [world]; addresses[0] is "" (rank 0 does not listen)
};
std::vector<uint8_t> EncodeAssign(const Assignment& a);
StatusOr<Assignment> DecodeAssign(const std::vector<uint8_t>& payload);

struct MeshHello {
  uint8_t session[kSessionBytes];
  uint32_t rank = 0;
};
StatusOr<MeshHello> DecodeMesh(const Message& m);

// Initializes libsodium once (thread-safe); Internal if it cannot.
Status InitCrypto();
void RandomBytes(void* out, size_t bytes);

}  // namespace shoal::comm::tcp
