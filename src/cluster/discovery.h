// Discovery datagrams (docs/wire-protocol.md, "Discovery"): what a worker announces on the local
// network so that a rank 0 finds it without a host list. One UDP datagram of at most 512 bytes,
// tagged with HMAC-SHA256 under a key derived from the cluster secret; the parser bounds every
// field and returns a Status on anything else. The sockets are in announcer.h and discoverer.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace shoal::cluster {

inline constexpr uint32_t kAnnounceMagic = 0x41444853;  // the bytes "S H D A"
inline constexpr uint8_t kDiscoveryVersion = 1;
inline constexpr uint8_t kAnnounceKind = 1;
inline constexpr size_t kMaxAnnounceBytes = 512;
inline constexpr size_t kAnnounceTagBytes = 16;    // HMAC-SHA256, truncated
inline constexpr size_t kAnnounceFixedBytes = 34;  // magic .. memory_bytes
inline constexpr size_t kMinAnnounceBytes = kAnnounceFixedBytes + 3 + kAnnounceTagBytes;  // 53
inline constexpr size_t kMaxAnnounceHostBytes = 253;  // a DNS name
inline constexpr size_t kMaxAnnounceVersionBytes = 64;
inline constexpr size_t kMaxAnnounceModelBytes = 64;
inline constexpr char kDefaultDiscoveryGroup[] = "239.255.77.77:7788";

// What one datagram says. Every field is checked by EncodeAnnouncement and ParseAnnouncement.
struct Announcement {
  std::string host;           // the worker's TCP host; "": use the datagram's source address
  uint16_t port = 0;          // the worker's TCP listen port (not 0)
  uint64_t instance = 0;      // random per process
  uint64_t counter = 0;       // per instance, grows with every datagram sent
  uint16_t protocol = 0;      // comm::tcp::kProtocolVersion of the sender
  uint64_t memory_bytes = 0;  // memory offered to the pool (0: not said)
  std::string version;        // shoal's version string (printable ASCII)
  std::string model_id;       // the model identity it holds, lowercase hex ("" if none)
};

// The tag key: HKDF-SHA256(salt = "shoal/discovery", ikm = secret, info = "shoal/1 announce tag").
// Another key than every tcp connection's (other labels), so a tag is no use elsewhere.
struct DiscoveryKey {
  uint8_t bytes[32] = {};
};
DiscoveryKey DeriveDiscoveryKey(std::string_view secret);

// The datagram, tag included; InvalidArgument if a field is out of bounds.
StatusOr<std::vector<uint8_t>> EncodeAnnouncement(const Announcement& a, const DiscoveryKey& key);
// Corrupt, saying why, for any datagram that is not a well-formed announcement tagged under key
// (a wrong secret and a changed byte both fail the tag); Unimplemented for another version.
StatusOr<Announcement> ParseAnnouncement(const uint8_t* data, size_t bytes,
                                         const DiscoveryKey& key);

// "0.0.0.0", "::", "" and "*" mean every interface: announced as "" (the source address).
bool IsWildcardHost(std::string_view host);

// The replay rule: per instance, a counter must be greater than the last one accepted. An
// instance retired (replaced at its address by another) accepts nothing more. Holds at most
// max_instances (the least recently heard one is forgotten first).
class ReplayGuard {
 public:
  explicit ReplayGuard(size_t max_instances = 4096) : max_(max_instances) {}
  // Ok and records the counter, or Corrupt saying why it was dropped.
  Status Accept(uint64_t instance, uint64_t counter);
  void Retire(uint64_t instance);
  size_t size() const { return last_.size(); }

 private:
  struct Seen {
    uint64_t counter = 0;
    uint64_t order = 0;  // when last accepted (a tick of this guard)
  };
  void Insert(uint64_t instance, uint64_t counter);  // forgets the oldest when full

  size_t max_;
  uint64_t tick_ = 0;
  std::unordered_map<uint64_t, Seen> last_;
};

}  // namespace shoal::cluster
