#include "comm/loopback/loopback.h"

#include "comm/peer_group.h"
#include "comm/ring.h"

namespace shoal::comm {
namespace {

// The rings of one loopback group: n*n cursors and buffers, index src * n + dst.
struct Rings {
  Rings(int n, size_t ring_bytes)
      : cursors(n * n), data(n * n * ring_bytes), ring_bytes(ring_bytes) {}
  std::vector<RingCursors> cursors;
  std::vector<uint8_t> data;
  size_t ring_bytes;
  ByteRing Get(int n, int src, int dst) {
    const size_t i = static_cast<size_t>(src) * n + dst;
    return ByteRing(&cursors[i], data.data() + i * ring_bytes, ring_bytes);
  }
};

class LoopbackTransport : public RingTransport {
 public:
  LoopbackTransport(int rank, int n, std::shared_ptr<Rings> rings)
      : RingTransport(rank, n, Side(rank, n, *rings, true), Side(rank, n, *rings, false)),
        rings_(std::move(rings)) {}
  ~LoopbackTransport() override { Abort(); }
  std::string PeerName(int peer) const override {
    return "rank " + std::to_string(peer) + " (loopback)";
  }

 private:
  static std::vector<ByteRing> Side(int rank, int n, Rings& rings, bool out) {
    std::vector<ByteRing> v(n);
    for (int p = 0; p < n; ++p) {
      if (p != rank) v[p] = out ? rings.Get(n, rank, p) : rings.Get(n, p, rank);
    }
    return v;
  }
  std::shared_ptr<Rings> rings_;  // the last rank destroyed frees the rings
};

}  // namespace

std::vector<std::unique_ptr<Group>> MakeLoopbackGroups(int n, int io_timeout_ms,
                                                       size_t ring_bytes) {
  std::vector<std::unique_ptr<Group>> groups;
  if (n < 1) return groups;
  size_t cap = 64;
  while (cap < ring_bytes) cap *= 2;
  auto rings = std::make_shared<Rings>(n, cap);
  StreamOptions options{io_timeout_ms, false};
  for (int r = 0; r < n; ++r) {
    auto io =
        std::make_unique<StreamPeerIo>(std::make_unique<LoopbackTransport>(r, n, rings), options);
    groups.push_back(std::make_unique<PeerGroup>(std::move(io), "loopback"));
  }
  return groups;
}

}  // namespace shoal::comm
