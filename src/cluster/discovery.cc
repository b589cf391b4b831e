#include "cluster/discovery.h"

#include <cstring>

#include "comm/tcp/handshake.h"

namespace shoal::cluster {
namespace {

constexpr char kKeySalt[] = "shoal/discovery";
constexpr char kKeyInfo[] = "shoal/1 announce tag";

void PutU16(std::vector<uint8_t>& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':' || c == '_';
}
bool PrintableChar(char c) { return c >= 0x20 && c <= 0x7e; }
bool HexChar(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Empty if `s` fits `max` bytes of `ok` characters, else why not.
std::string CheckField(const char* name, std::string_view s, size_t max, bool (*ok)(char)) {
  if (s.size() > max) {
    return std::string(name) + " is " + std::to_string(s.size()) + " bytes (at most " +
           std::to_string(max) + ")";
  }
  for (char c : s) {
    if (!ok(c)) return std::string(name) + " has a byte outside its alphabet";
  }
  return "";
}

std::string CheckFields(const Announcement& a) {
  if (a.port == 0) return "port 0";
  std::string why = CheckField("host", a.host, kMaxAnnounceHostBytes, HostChar);
  if (why.empty() && !a.host.empty() && IsWildcardHost(a.host)) why = "host is a wildcard";
  if (why.empty()) why = CheckField("version", a.version, kMaxAnnounceVersionBytes, PrintableChar);
  if (why.empty()) why = CheckField("model id", a.model_id, kMaxAnnounceModelBytes, HexChar);
  return why;
}

void Tag(const DiscoveryKey& key, const uint8_t* data, size_t bytes,
         uint8_t out[kAnnounceTagBytes]) {
  uint8_t full[32];
  comm::tcp::HmacSha256(key.bytes, sizeof key.bytes, data, bytes, full);
  std::memcpy(out, full, kAnnounceTagBytes);
}

// Reads one u8-length-prefixed string at *at, within end; false if it does not fit.
bool GetString(const uint8_t* data, size_t end, size_t* at, std::string* out) {
  if (*at >= end) return false;
  const size_t n = data[*at];
  if (n > end - *at - 1) return false;
  out->assign(reinterpret_cast<const char*>(data) + *at + 1, n);
  *at += 1 + n;
  return true;
}

}  // namespace

bool IsWildcardHost(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

DiscoveryKey DeriveDiscoveryKey(std::string_view secret) {
  DiscoveryKey k;
  comm::tcp::HkdfSha256(reinterpret_cast<const uint8_t*>(kKeySalt), sizeof kKeySalt - 1,
                        reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
                        reinterpret_cast<const uint8_t*>(kKeyInfo), sizeof kKeyInfo - 1, k.bytes);
  return k;
}

StatusOr<std::vector<uint8_t>> EncodeAnnouncement(const Announcement& a, const DiscoveryKey& key) {
  if (std::string why = CheckFields(a); !why.empty()) {
    return InvalidArgument("discovery: cannot announce: " + why);
  }
  std::vector<uint8_t> out;
  out.reserve(kMaxAnnounceBytes);
  PutU32(out, kAnnounceMagic);
  out.push_back(kDiscoveryVersion);
  out.push_back(kAnnounceKind);
  PutU16(out, a.port);
  PutU64(out, a.instance);
  PutU64(out, a.counter);
  PutU16(out, a.protocol);
  PutU64(out, a.memory_bytes);
  for (const std::string* s : {&a.host, &a.version, &a.model_id}) {
    out.push_back(uint8_t(s->size()));
    out.insert(out.end(), s->begin(), s->end());
  }
  uint8_t tag[kAnnounceTagBytes];
  Tag(key, out.data(), out.size(), tag);
  out.insert(out.end(), tag, tag + kAnnounceTagBytes);
  return out;
}

StatusOr<Announcement> ParseAnnouncement(const uint8_t* data, size_t bytes,
                                         const DiscoveryKey& key) {
  const std::string at = "announcement of " + std::to_string(bytes) + " bytes: ";
  if (bytes > kMaxAnnounceBytes) {
    return Corrupt(at + "too long (at most " + std::to_string(kMaxAnnounceBytes) + ")");
  }
  if (bytes < 6) return Corrupt(at + "truncated (not even a header)");
  if (GetLe(data, 4) != kAnnounceMagic) return Corrupt(at + "not a shoal announcement (magic)");
  if (data[4] != kDiscoveryVersion) {
    return Unimplemented(at + "discovery version " + std::to_string(data[4]) +
                         " (this node speaks " + std::to_string(kDiscoveryVersion) + ")");
  }
  if (data[5] != kAnnounceKind) return Corrupt(at + "unknown kind " + std::to_string(data[5]));
  if (bytes < kMinAnnounceBytes) {
    return Corrupt(at + "truncated (at least " + std::to_string(kMinAnnounceBytes) + ")");
  }
  const size_t body = bytes - kAnnounceTagBytes;
  uint8_t want[kAnnounceTagBytes];
  Tag(key, data, body, want);
  if (!comm::tcp::EqualConstantTime(want, data + body, kAnnounceTagBytes)) {
    return Corrupt(at +
                   "tag does not match (sent with another cluster secret, or altered on the way)");
  }
  Announcement a;
  a.port = uint16_t(GetLe(data + 6, 2));
  a.instance = GetLe(data + 8, 8);
  a.counter = GetLe(data + 16, 8);
  a.protocol = uint16_t(GetLe(data + 24, 2));
  a.memory_bytes = GetLe(data + 26, 8);
  size_t pos = kAnnounceFixedBytes;
  if (!GetString(data, body, &pos, &a.host) || !GetString(data, body, &pos, &a.version) ||
      !GetString(data, body, &pos, &a.model_id)) {
    return Corrupt(at + "a string runs past the tag");
  }
  if (pos != body) return Corrupt(at + "trailing bytes before the tag");
  if (std::string why = CheckFields(a); !why.empty()) return Corrupt(at + why);
  return a;
}

Status ReplayGuard::Accept(uint64_t instance, uint64_t counter) {
  auto it = last_.find(instance);
  if (it != last_.end()) {
    if (it->second.counter == UINT64_MAX) {
      return Corrupt("instance retired (another instance took its address)");
    }
    if (counter <= it->second.counter) {
      return Corrupt("replayed or reordered: counter " + std::to_string(counter) +
                     " is not greater than " + std::to_string(it->second.counter));
    }
    it->second = {counter, ++tick_};
    return Status::Ok();
  }
  if (counter == UINT64_MAX) return Corrupt("counter exhausted");
  Insert(instance, counter);
  return Status::Ok();
}

void ReplayGuard::Retire(uint64_t instance) { Insert(instance, UINT64_MAX); }

void ReplayGuard::Insert(uint64_t instance, uint64_t counter) {
  if (!last_.contains(instance) && max_ > 0 && last_.size() >= max_) {
    auto oldest = last_.begin();
    for (auto i = last_.begin(); i != last_.end(); ++i) {
      if (i->second.order < oldest->second.order) oldest = i;
    }
    last_.erase(oldest);
  }
  last_[instance] = {counter, ++tick_};
}

}  // namespace shoal::cluster
