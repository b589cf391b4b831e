// libFuzzer target: the heartbeat parsers (cluster/heartbeat.h). The first byte picks the mode:
// even, the rest is a datagram as it came off the network (size, magic, version and tag checks);
// odd, the rest is a datagram without its tag, which the harness tags with the test key as a
// sender holding the secret would, so every field check is reached. Either way: a Status or a
// message, never a crash; a ping that parses encodes back to the same bytes, a pong's strings
// stay within their bound.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cluster/heartbeat.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const shoal::cluster::HeartbeatKey& Key() {
  static const shoal::cluster::HeartbeatKey k =
      shoal::cluster::HeartbeatKey::FromSecret("heartbeat-fuzz-secret-0123456789abcdefghij");
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal::cluster;
  if (size == 0) return 0;
  std::vector<uint8_t> d(data + 1, data + size);
  if (data[0] & 1) {
    uint8_t tag[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(tag, d.data(), d.size(), Key().bytes.data());
    d.insert(d.end(), tag, tag + 16);
  }
  if (auto p = DecodePing(Key(), d); p.ok()) {
    Check(d.size() <= kMaxDatagramBytes);
    Check(EncodePing(Key(), *p) == d);
  }
  if (auto p = DecodePong(Key(), d); p.ok()) {
    Check(d.size() <= kMaxDatagramBytes);
    Check(p->status.version.size() <= kMaxStatusText && p->status.model.size() <= kMaxStatusText);
    Check(p->status.load >= 0);
  }
  return 0;
}
