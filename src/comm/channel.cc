#include "comm/channel.h"

#include <sodium.h>

#include <climits>
#include <cstring>

#if SHOAL_HAVE_LIBCRYPTO
#include <openssl/evp.h>
#endif

namespace shoal::comm {

struct Channel::Keys {
  alignas(16) crypto_aead_aes256gcm_state send_state;
  alignas(16) crypto_aead_aes256gcm_state recv_state;
  uint8_t send_key[kKeyBytes];
  uint8_t recv_key[kKeyBytes];
#if SHOAL_HAVE_LIBCRYPTO
  // OpenSSL's AEADs: the same algorithms and bytes as libsodium's, several times faster (stitched
  // AES-NI/CLMUL and AVX code paths; docs/benchmarks.md). The receive context decrypts under
  // kSeal and recomputes tags (encrypts) under kAuth.
  EVP_CIPHER_CTX* send_ctx = nullptr;
  EVP_CIPHER_CTX* recv_ctx = nullptr;
  ~Keys() {
    EVP_CIPHER_CTX_free(send_ctx);
    EVP_CIPHER_CTX_free(recv_ctx);
  }
#endif
};

namespace {

const uint8_t kEmpty[1] = {0};  // libsodium wants a pointer even for zero bytes

const unsigned char* Bytes(const void* p) {
  return p != nullptr ? static_cast<const unsigned char*>(p) : kEmpty;
}

#if SHOAL_HAVE_LIBCRYPTO
// OpenSSL's update calls take int lengths: longer inputs go in pieces.
constexpr size_t kPiece = size_t{1} << 30;

bool EvpInit(EVP_CIPHER_CTX** ctx, Cipher c, const uint8_t* key, bool encrypt) {
  *ctx = EVP_CIPHER_CTX_new();
  const EVP_CIPHER* cipher = c == Cipher::kAes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
  return *ctx != nullptr &&
         EVP_CipherInit_ex(*ctx, cipher, nullptr, key, nullptr, encrypt ? 1 : 0) == 1;
}

bool EvpAad(EVP_CIPHER_CTX* ctx, const uint8_t* p, size_t n) {
  for (size_t at = 0; at < n; at += kPiece) {
    int len = 0;
    if (EVP_CipherUpdate(ctx, nullptr, &len, p + at, static_cast<int>(std::min(kPiece, n - at))) !=
        1) {
      return false;
    }
  }
  return true;
}

bool EvpData(EVP_CIPHER_CTX* ctx, const uint8_t* in, size_t n, uint8_t* out) {
  for (size_t at = 0; at < n; at += kPiece) {
    int len = 0;
    if (EVP_CipherUpdate(ctx, out + at, &len, in + at,
                         static_cast<int>(std::min(kPiece, n - at))) != 1) {
      return false;
    }
  }
  return true;
}

// Encrypts `m` (to `c`, which may be `m`) with `ad` authenticated, and writes the tag.
bool EvpSeal(EVP_CIPHER_CTX* ctx, const uint8_t nonce[12], const uint8_t* ad, size_t ad_bytes,
             const uint8_t* m, size_t m_bytes, uint8_t* c, uint8_t* tag) {
  int len = 0;
  uint8_t end[16];
  return EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, -1) == 1 &&
         EvpAad(ctx, ad, ad_bytes) && EvpData(ctx, m, m_bytes, c) &&
         EVP_CipherFinal_ex(ctx, end, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, tag) == 1;
}

// Checks the tag, then (only if it matches, as far as the caller can tell) `m` holds the plain
// text; `c` may be `m`.
bool EvpOpen(EVP_CIPHER_CTX* ctx, const uint8_t nonce[12], const uint8_t* ad, size_t ad_bytes,
             const uint8_t* c, size_t c_bytes, uint8_t* m, const uint8_t* tag) {
  int len = 0;
  uint8_t end[16];
  return EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, -1) == 1 &&
         EvpAad(ctx, ad, ad_bytes) && EvpData(ctx, c, c_bytes, m) &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, const_cast<uint8_t*>(tag)) ==
             1 &&
         EVP_CipherFinal_ex(ctx, end, &len) == 1;
}
#endif

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
#if SHOAL_HAVE_LIBCRYPTO
  if (!EvpInit(&k.send_ctx, cipher, k.send_key, true) ||
      !EvpInit(&k.recv_ctx, cipher, k.recv_key, security == LinkSecurity::kAuth)) {
    return Internal("OpenSSL could not set up " + std::string(CipherName(cipher)));
  }
#endif
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
#if SHOAL_HAVE_LIBCRYPTO
  uint8_t none[kFrameHeaderBytes];
  const bool sealed =
      security_ == LinkSecurity::kSeal
          ? EvpSeal(k.send_ctx, nonce, header, kFrameHeaderBytes, Bytes(payload), bytes,
                    out != nullptr ? static_cast<uint8_t*>(out) : none, tag)
          : EvpSeal(k.send_ctx, nonce, Bytes(payload), bytes, header, kFrameHeaderBytes, none, tag);
  if (!sealed) return Internal("seal: the cipher refused a frame of " + std::to_string(bytes));
  (void)aes;
  ++send_seq_;
  return Status::Ok();
#else
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
#endif
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
#if SHOAL_HAVE_LIBCRYPTO
  (void)aes;
  if (security_ == LinkSecurity::kSeal) {
    uint8_t none[1];
    uint8_t* p = payload != nullptr ? static_cast<uint8_t*>(payload) : none;
    good = EvpOpen(k.recv_ctx, nonce, header, kFrameHeaderBytes, p, bytes, p, tag);
  } else {
    uint8_t dropped[kFrameHeaderBytes], want[kTagBytes];
    good = EvpSeal(k.recv_ctx, nonce, Bytes(payload), bytes, header, kFrameHeaderBytes, dropped,
                   want) &&
           crypto_verify_16(want, tag) == 0;
  }
#else
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
#endif
  if (!good) {
    return Corrupt("frame " + std::to_string(recv_seq_) +
                   " failed authentication: it was altered, replayed, reordered or dropped on the "
                   "wire, or sent with another key");
  }
  ++recv_seq_;
  return Status::Ok();
}

}  // namespace shoal::comm
