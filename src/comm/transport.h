// The small interface a backend implements so that the shared collectives (peer_group.h) run over
// it: non-blocking byte streams to every peer (tcp sockets, shared-memory rings, in-process rings).
// The frame engine (exchange.h) puts frames on these streams and drives them without blocking on
// any single peer, so simultaneous large sends in both directions cannot deadlock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"

namespace shoal::comm {

struct ConstBuf {
  const void* data;
  size_t bytes;
};
struct MutBuf {
  void* data;
  size_t bytes;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "rank 2 (10.0.0.3:7000)"
  virtual std::string PeerName(int peer) const = 0;

  // Moves as many bytes of `bufs` (in order) to / from `peer` as can move now without blocking and
  // sets *moved to their count (0: none could). Unavailable when the peer closed or failed.
  virtual Status TryWrite(int peer, std::span<const ConstBuf> bufs, size_t* moved) = 0;
  virtual Status TryRead(int peer, std::span<const MutBuf> bufs, size_t* moved) = 0;

  // Called after a round in which nothing moved: waits until bytes may move to one of `write_peers`
  // or from one of `read_peers`, or at most max_wait_ms. idle_rounds counts the rounds in a row
  // without progress (backends without a readiness signal spin, then yield, then sleep by it).
  virtual Status Wait(std::span<const int> write_peers, std::span<const int> read_peers,
                      int max_wait_ms, uint64_t idle_rounds) = 0;

  // Unavailable if `peer` is known to be gone (its process died, it closed the group); else Ok.
  // Called while waiting on the peer, at most every few milliseconds.
  virtual Status CheckPeer(int peer) { return Status::Ok(); }

  // After an error: closes every stream at once, so peers blocked on this rank fail now instead
  // of after their timeout. Nothing moves afterwards.
  virtual void Abort() {}
};

// Spin, then yield, then short sleeps, by the number of idle rounds in a row (no busy polling).
void IdleBackoff(uint64_t idle_rounds);

}  // namespace shoal::comm
