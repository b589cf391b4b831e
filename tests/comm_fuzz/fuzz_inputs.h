// What the comm fuzz targets and their seed writer share: the fixed keys the harnesses seal with
// (so a seed can carry frames whose tags check out), and the input layouts.
//
// frame_fuzz input:     u8 mode (bits 0-1: 0 none, 1 auth, 2 seal; bit 2: AES-256-GCM), u8 op,
//                       u16 expected payload bytes, u8 read chunk - 1, then the byte stream rank 1
//                       sent. Up to three receives of that size run over it.
// handshake_fuzz input: u8 target (kTargets), then that target's bytes.
#pragma once

#include <cstdint>

namespace shoal::comm::fuzz {

// Key of the direction rank 1 -> rank 0 (what the harness receives), and the other.
inline constexpr uint8_t kKeyIn[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                       12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                       23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
inline constexpr uint8_t kKeyOut[32] = {99, 98, 97, 96, 95, 94, 93, 92, 91, 90, 89,
                                        88, 87, 86, 85, 84, 83, 82, 81, 80, 79, 78,
                                        77, 76, 75, 74, 73, 72, 71, 70, 69, 68};
inline constexpr char kSecret[] = "fuzz secret: 0123456789abcdefghijklmnopqrstuvwxyz";

enum Target : uint8_t {
  kDecodeHello = 0,
  kDecodeHelloAck,
  kDecodeAuth,
  kDecodeAssign,
  kDecodeMesh,
  kReadPlain,   // the bytes as a stream of control messages, no channel
  kReadSealed,  // the same after a handshake (seal, ChaCha20-Poly1305, the fixed keys)
  kAcceptor,    // AuthenticateAsAcceptor reading the bytes from its dialer
  kDialer,      // AuthenticateAsDialer reading the bytes from its acceptor
  kSecretRule,  // CheckSecret
  kTargets
};

}  // namespace shoal::comm::fuzz
