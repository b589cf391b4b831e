// libFuzzer target: the discovery datagram parser (cluster/discovery.h). The first byte picks the
// mode: even, the rest is a datagram as it came off the network (size, magic, version and tag
// checks); odd, the rest is a datagram body that the harness tags with the test key, as a sender
// holding the secret would, so every field check is reached. Either way: a Status or an
// announcement, never a crash; an announcement that parses encodes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cluster/discovery.h"
#include "comm/tcp/handshake.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const shoal::cluster::DiscoveryKey& Key() {
  static const shoal::cluster::DiscoveryKey k =
      shoal::cluster::DeriveDiscoveryKey("discovery-fuzz-secret-0123456789abcdefghij");
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal::cluster;
  if (size == 0) return 0;
  std::vector<uint8_t> d(data + 1, data + size);
  if (data[0] & 1) {
    uint8_t tag[32];
    shoal::comm::tcp::HmacSha256(Key().bytes, sizeof Key().bytes, d.data(), d.size(), tag);
    d.insert(d.end(), tag, tag + kAnnounceTagBytes);
  }
  auto a = ParseAnnouncement(d.data(), d.size(), Key());
  if (!a.ok()) return 0;
  Check(d.size() <= kMaxAnnounceBytes);
  Check(a->port != 0 && a->host.size() <= kMaxAnnounceHostBytes &&
        a->version.size() <= kMaxAnnounceVersionBytes &&
        a->model_id.size() <= kMaxAnnounceModelBytes);
  auto again = EncodeAnnouncement(*a, Key());
  Check(again.ok());
  Check(*again == d);
  return 0;
}
