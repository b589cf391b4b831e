// A single-producer single-consumer byte ring: the channel from one rank to another in the shm
// and loopback backends. The cursors may live in shared memory (plain integers accessed through
// std::atomic_ref, so the layout is fixed and needs no construction). Lock-free: the producer only
// advances `head`, the consumer only `tail`; both count bytes since the start (never wrap).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "comm/transport.h"

namespace shoal::comm {

struct alignas(64) RingCursors {
  alignas(64) uint64_t head;    // bytes written so far (producer)
  alignas(64) uint64_t tail;    // bytes read so far (consumer)
  alignas(64) uint32_t closed;  // producer side left the group (1)
};
static_assert(sizeof(RingCursors) == 192);

class ByteRing {
 public:
  ByteRing() = default;
  // `capacity_bytes` must be a power of two.
  ByteRing(RingCursors* cursors, uint8_t* data, size_t capacity_bytes)
      : c_(cursors), data_(data), cap_(capacity_bytes) {}

  // Copies as much of bufs (in order) as fits now; returns the count.
  size_t Write(std::span<const ConstBuf> bufs);
  // Copies as much as is there now into bufs (in order); returns the count.
  size_t Read(std::span<const MutBuf> bufs);
  // Bytes waiting to be read (consumer side).
  size_t Readable() const;
  void MarkClosed() { std::atomic_ref<uint32_t>(c_->closed).store(1, std::memory_order_release); }
  bool closed() const {
    return std::atomic_ref<uint32_t>(c_->closed).load(std::memory_order_acquire) != 0;
  }

 private:
  RingCursors* c_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace shoal::comm

namespace shoal::comm {

// A Transport over ByteRings: out[p] carries this rank's bytes to p, in[p] p's bytes to this
// rank (entries for this rank unused). Used by loopback (heap rings) and shm (shared rings).
class RingTransport : public Transport {
 public:
  RingTransport(int rank, int size, std::vector<ByteRing> out, std::vector<ByteRing> in)
      : rank_(rank), size_(size), out_(std::move(out)), in_(std::move(in)) {}
  // Subclasses call Abort() in their destructor (while the rings are still mapped) so that every
  // peer learns this rank left.
  ~RingTransport() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status TryWrite(int peer, std::span<const ConstBuf> bufs, size_t* moved) override;
  Status TryRead(int peer, std::span<const MutBuf> bufs, size_t* moved) override;
  Status Wait(std::span<const int> write_peers, std::span<const int> read_peers, int max_wait_ms,
              uint64_t idle_rounds) override;
  void Abort() override;

 protected:
  int rank_, size_;
  std::vector<ByteRing> out_, in_;
};

}  // namespace shoal::comm
