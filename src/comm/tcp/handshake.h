// The tcp control protocol (docs/wire-protocol.md): control messages framed like data frames
// (frame.h) with a bounded length, and the mutual HMAC-SHA256 challenge/response.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/tcp/socket.h"

namespace shoal::comm::tcp {

inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kSessionBytes = 16;
inline constexpr size_t kMaxControlBytes = 64 * 1024;  // bound on any control payload
inline constexpr size_t kMaxErrorBytes = 1024;
inline constexpr size_t kMaxAddressBytes = 255;
inline constexpr int kMaxWorld = 1024;

enum class MsgType : uint8_t {
  kHello = 0x01,     // dialer -> acceptor: u16 version, nonce_d[32]
  kHelloAck = 0x02,  // acceptor -> dialer: u16 version, nonce_a[32], mac_a[32]
  kAuth = 0x03,      // dialer -> acceptor: mac_d[32]
  kAuthOk = 0x04,    // acceptor -> dialer: empty
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

Status SendMessage(int fd, MsgType type, const void* payload, size_t bytes, Deadline deadline);
Status SendError(int fd, const std::string& text, Deadline deadline);
// Reads one control message (payload <= kMaxControlBytes). A kError from the peer is returned as
// an error carrying its text ("peer says: ...").
StatusOr<Message> ReadMessage(int fd, Deadline deadline);
// ReadMessage, then checks the type.
StatusOr<Message> ReadMessageOf(int fd, MsgType want, Deadline deadline);

// Mutual authentication: each side proves it knows `secret` (HMAC-SHA256 over both nonces, with a
// different label per direction) and checks the other's proof in constant time. On failure the
// side that detects it sends kError and both return InvalidArgument naming the wrong secret.
Status AuthenticateAsDialer(int fd, const std::string& secret, Deadline deadline);
Status AuthenticateAsAcceptor(int fd, const std::string& secret, Deadline deadline);

struct Assignment {
  uint8_t session[kSessionBytes];
  uint32_t rank = 0;
  uint32_t world = 0;
  std::vector<std::string> addresses;  // [world]; addresses[0] is "" (rank 0 does not listen)
};
std::vector<uint8_t> EncodeAssign(const Assignment& a);
StatusOr<Assignment> DecodeAssign(const std::vector<uint8_t>& payload);

// Initializes libsodium once (thread-safe); Internal if it cannot.
Status InitCrypto();
void RandomBytes(void* out, size_t bytes);

}  // namespace shoal::comm::tcp
