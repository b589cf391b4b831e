// comm::Group: the ranks of one job and the collectives they run together (design rule 5).
// The layer sees (pointer, count, dtype) only: nothing here knows models, plans or tokens.
//
// Every rank of a group calls the same collectives in the same order. A collective returns Ok on
// every rank or an error naming the peer that failed (dead, silent past the timeout, or sending
// something the protocol does not allow); after an error the group is unusable and is destroyed.
//
// Determinism: AllReduceSum leaves bit-identical results on every rank, and the order in which the
// ranks' contributions are added does not depend on timing (only on the group size and the
// algorithm, which depends only on the message size). Tensor-parallel ranks keep a replicated
// residual stream; it stays identical across ranks because of this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"

namespace shoal::comm {

enum class ElemType : uint8_t { kF32, kBF16 };

// Collective algorithms, chosen by message size unless forced (for tests and benchmarks).
enum class Algorithm : uint8_t {
  kAuto,
  kDirect,  // every rank sends its whole vector to every other; one network latency
  kRing,    // reduce-scatter + all-gather around a ring; bandwidth-optimal for large messages
};

class Group {
 public:
  virtual ~Group() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "tcp", "shm", "mpi" or "loopback".
  virtual std::string_view backend() const = 0;
  // A human name of a peer for error messages ("rank 2 (10.0.0.3:7000)").
  virtual std::string PeerName(int rank) const = 0;

  // Point to point: `bytes` must match on both sides.
  virtual Status Send(int peer, const void* data, size_t bytes) = 0;
  virtual Status Recv(int peer, void* data, size_t bytes) = 0;

  // In place: data[i] = sum over ranks of data[i] (f32 accumulation for bf16).
  virtual Status AllReduceSum(void* data, size_t count, ElemType type,
                              Algorithm algo = Algorithm::kAuto) = 0;
  // out = concatenation over ranks (rank order) of each rank's `in`; bytes_per_rank[r] is rank r's
  // size (uneven splits are normal) and is the same list on every rank. in may alias its own
  // place in out.
  virtual Status AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) = 0;
  // Like AllGatherV, but only `root` receives out (others may pass nullptr).
  virtual Status GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                         int root) = 0;
  virtual Status Broadcast(void* data, size_t bytes, int root) = 0;
  virtual Status Barrier() = 0;
  // The limit on a silent peer during later calls: a call in which no byte moves to or from the
  // peers it waits on for this long fails. <= 0: no limit (a worker waiting for rank 0's next
  // command while the pool is idle). Backends without a timeout of their own ignore it.
  virtual void SetIoTimeoutMs(int timeout_ms) { (void)timeout_ms; }
  // May be called from any thread, while another thread is inside a call: the call in progress
  // and every later one fail at once, and the peers see the connections close (for the pool's
  // health monitor, which learns that a peer is gone before the data path does). Backends that
  // cannot be interrupted ignore it.
  virtual void Abort() {}
};

}  // namespace shoal::comm
