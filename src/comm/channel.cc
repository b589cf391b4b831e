#include "comm/channel.h"

#include <sodium.h>

#include <cstring>

namespace shoal::comm {

struct Channel::Keys {
  alignas(16) crypto_aead_aes256gcm_state send_state;
  alignas(16) crypto_aead_aes256gcm_state recv_state;
  uint8_t send_key[kKeyBytes];
  uint8_t recv_key[kKeyBytes];
};

namespace {

const uint8_t kEmpty[1] = {0};  // libsodium wants a pointer even for zero bytes

const unsigned char* Bytes(const void* p) {
  return p != nullptr ? static_cast<const unsigned char*>(p) : kEmpty;
}

}  // namespace

std::string_view LinkSecurityName(LinkSecurity s) {
  switch (s) {
    case LinkSecurity::kNone:
      return "none";
    case LinkSecurity::kAuth:
      return "auth";
    case LinkSecurity::kSeal:
      return "seal";
  }
  return "unknown";
}

StatusOr<LinkSecurity> ParseLinkSecurity(std::string_view name) {
  if (name == "seal") return LinkSecurity::kSeal;
  if (name == "auth") return LinkSecurity::kAuth;
  if (name == "none") return LinkSecurity::kNone;
  return InvalidArgument("link security must be seal, auth or none, not '" + std::string(name) +
                         "'");
}

std::string_view CipherName(Cipher c) {
  switch (c) {
    case Cipher::kAes256Gcm:
      return "aes-256-gcm";
    case Cipher::kChaCha20Poly1305:
      return "chacha20-poly1305";
  }
  return "unknown";
}

uint8_t CiphersAvailable() {
  if (sodium_init() < 0) return 0;
  uint8_t bits = CipherBit(Cipher::kChaCha20Poly1305);
  if (crypto_aead_aes256gcm_is_available()) bits |= CipherBit(Cipher::kAes256Gcm);
  return bits;
}

StatusOr<std::unique_ptr<Channel>> Channel::Create(LinkSecurity security, Cipher cipher,
                                                   const uint8_t* send_key,
                                                   const uint8_t* recv_key) {
  std::unique_ptr<Channel> ch(new Channel());
  ch->security_ = security;
  ch->cipher_ = cipher;
  if (security == LinkSecurity::kNone) return ch;
  if ((CiphersAvailable() & CipherBit(cipher)) == 0) {
    return Unimplemented(std::string(CipherName(cipher)) + " is not available on this CPU");
  }
  ch->keys_ = std::make_unique<Keys>();
  Keys& k = *ch->keys_;
  std::memcpy(k.send_key, send_key, kKeyBytes);
  std::memcpy(k.recv_key, recv_key, kKeyBytes);
  if (cipher == Cipher::kAes256Gcm) {
    crypto_aead_aes256gcm_beforenm(&k.send_state, k.send_key);
    crypto_aead_aes256gcm_beforenm(&k.recv_state, k.recv_key);
  }
  return ch;
}

Channel::~Channel() {
  if (keys_) sodium_memzero(keys_.get(), sizeof(Keys));
}

void Channel::Nonce(uint64_t seq, uint8_t out[12]) const {
  PutU64(out, seq);
  PutU32(out + 8, 0);
}

Status Channel::Seal(const uint8_t header[kFrameHeaderBytes], const void* payload, size_t bytes,
                     void* out, uint8_t* tag) {
  if (security_ == LinkSecurity::kNone) return Status::Ok();
  if (send_seq_ == UINT64_MAX) return Internal("seal: the frame sequence is exhausted");
  uint8_t nonce[12];
  Nonce(send_seq_, nonce);
  Keys& k = *keys_;
  const bool aes = cipher_ == Cipher::kAes256Gcm;
  int rc = 0;
  if (security_ == LinkSecurity::kSeal) {
    if (aes && bytes > crypto_aead_aes256gcm_messagebytes_max()) {
      return InvalidArgument("seal: a frame of " + std::to_string(bytes) + " bytes is too large");
    }
    uint8_t none[1];
    unsigned char* o = out != nullptr ? static_cast<unsigned char*>(out) : none;
    rc = aes ? crypto_aead_aes256gcm_encrypt_detached_afternm(o, tag, nullptr, Bytes(payload),
                                                              bytes, header, kFrameHeaderBytes,
                                                              nullptr, nonce, &k.send_state)
             : crypto_aead_chacha20poly1305_ietf_encrypt_detached(o, tag, nullptr, Bytes(payload),
                                                                  bytes, header, kFrameHeaderBytes,
                                                                  nullptr, nonce, k.send_key);
  } else {  // kAuth: the header is the message (its ciphertext is dropped), the payload the AD
    uint8_t dropped[kFrameHeaderBytes];
    rc = aes ? crypto_aead_aes256gcm_encrypt_detached_afternm(dropped, tag, nullptr, header,
                                                              kFrameHeaderBytes, Bytes(payload),
                                                              bytes, nullptr, nonce, &k.send_state)
             : crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                   dropped, tag, nullptr, header, kFrameHeaderBytes, Bytes(payload), bytes, nullptr,
                   nonce, k.send_key);
  }
  if (rc != 0) return Internal("seal: the cipher refused a frame of " + std::to_string(bytes));
  ++send_seq_;
  return Status::Ok();
}

Status Channel::Open(const uint8_t header[kFrameHeaderBytes], void* payload, size_t bytes,
                     const uint8_t* tag) {
  if (security_ == LinkSecurity::kNone) return Status::Ok();
  if (recv_seq_ == UINT64_MAX) return Internal("open: the frame sequence is exhausted");
  uint8_t nonce[12];
  Nonce(recv_seq_, nonce);
  Keys& k = *keys_;
  const bool aes = cipher_ == Cipher::kAes256Gcm;
  bool good = false;
  if (security_ == LinkSecurity::kSeal) {
    if (aes && bytes > crypto_aead_aes256gcm_messagebytes_max()) {
      return Corrupt("a sealed frame of " + std::to_string(bytes) + " bytes is too large");
    }
    unsigned char* p = payload != nullptr ? static_cast<unsigned char*>(payload) : nullptr;
    uint8_t none[1];
    if (p == nullptr) p = none;
    good =
        (aes ? crypto_aead_aes256gcm_decrypt_detached_afternm(
                   p, nullptr, p, bytes, tag, header, kFrameHeaderBytes, nonce, &k.recv_state)
             : crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                   p, nullptr, p, bytes, tag, header, kFrameHeaderBytes, nonce, k.recv_key)) == 0;
  } else {
    uint8_t dropped[kFrameHeaderBytes], want[kTagBytes];
    if (aes) {
      crypto_aead_aes256gcm_encrypt_detached_afternm(dropped, want, nullptr, header,
                                                     kFrameHeaderBytes, Bytes(payload), bytes,
                                                     nullptr, nonce, &k.recv_state);
    } else {
      crypto_aead_chacha20poly1305_ietf_encrypt_detached(dropped, want, nullptr, header,
                                                         kFrameHeaderBytes, Bytes(payload), bytes,
                                                         nullptr, nonce, k.recv_key);
    }
    good = crypto_verify_16(want, tag) == 0;
  }
  if (!good) {
    return Corrupt("frame " + std::to_string(recv_seq_) +
                   " failed authentication: it was altered, replayed, reordered or dropped on the "
                   "wire, or sent with another key");
  }
  ++recv_seq_;
  return Status::Ok();
}

}  // namespace shoal::comm
