// Channel: the sealing state of one connection after its handshake (docs/wire-protocol.md,
// "Sealed frames"): one key and one 64-bit sequence number per direction. Every frame then carries
// a 16-byte AEAD tag after its payload; the nonce is the direction's sequence number, never sent,
// so a frame that is altered, replayed, reordered or dropped fails the next check.
//
//   kSeal: the payload is encrypted; the tag covers header (additional data) and payload.
//   kAuth: the payload travels in clear; the tag covers header and payload (AEAD with the payload
//          as additional data and the header as the message, whose ciphertext is not sent).
//   kNone: no tag (benchmarks on a trusted link only).
//
// AES-256-GCM where the CPU has AES-NI and CLMUL on both ends, ChaCha20-Poly1305 (IETF) otherwise
// (libsodium). Keys come from the handshake (tcp/handshake.h); this file knows nothing of sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "comm/frame.h"

namespace shoal::comm {

enum class LinkSecurity : uint8_t { kNone = 0, kAuth = 1, kSeal = 2 };
enum class Cipher : uint8_t { kAes256Gcm = 1, kChaCha20Poly1305 = 2 };

inline constexpr size_t kTagBytes = 16;
inline constexpr size_t kKeyBytes = 32;

std::string_view LinkSecurityName(LinkSecurity s);  // "none", "auth", "seal"
StatusOr<LinkSecurity> ParseLinkSecurity(std::string_view name);
std::string_view CipherName(Cipher c);  // "aes-256-gcm", "chacha20-poly1305"

// Bit (1 << Cipher) for each cipher this machine can run: ChaCha20-Poly1305 always, AES-256-GCM
// when libsodium says the CPU has it. Initializes libsodium; 0 if it cannot.
uint8_t CiphersAvailable();
inline constexpr uint8_t CipherBit(Cipher c) { return uint8_t(1u << static_cast<uint8_t>(c)); }

class Channel {
 public:
  // send_key / recv_key: kKeyBytes each (ignored for kNone).
  static StatusOr<std::unique_ptr<Channel>> Create(LinkSecurity security, Cipher cipher,
                                                   const uint8_t* send_key,
                                                   const uint8_t* recv_key);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  LinkSecurity security() const { return security_; }
  Cipher cipher() const { return cipher_; }
  size_t tag_bytes() const { return security_ == LinkSecurity::kNone ? 0 : kTagBytes; }
  uint64_t sent_frames() const { return send_seq_; }
  uint64_t received_frames() const { return recv_seq_; }

  // The next outgoing frame: `header` is its encoded header (authenticated, sent in clear).
  // kSeal writes the ciphertext of payload[0, bytes) to `out` (which may be `payload`); kAuth
  // and kNone leave `out` alone. Writes tag_bytes() bytes to `tag`.
  Status Seal(const uint8_t header[kFrameHeaderBytes], const void* payload, size_t bytes, void* out,
              uint8_t* tag);
  // The next incoming frame, entirely received: checks the tag (kSeal: then decrypts payload in
  // place). Corrupt if it does not match (the payload's contents are then unspecified).
  Status Open(const uint8_t header[kFrameHeaderBytes], void* payload, size_t bytes,
              const uint8_t* tag);

 private:
  Channel() = default;
  struct Keys;
  void Nonce(uint64_t seq, uint8_t out[12]) const;

  LinkSecurity security_ = LinkSecurity::kNone;
  Cipher cipher_ = Cipher::kChaCha20Poly1305;
  uint64_t send_seq_ = 0;
  uint64_t recv_seq_ = 0;
  std::unique_ptr<Keys> keys_;  // expanded keys (AES state needs 16-byte alignment)
};

}  // namespace shoal::comm
