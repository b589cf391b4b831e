// A single-producer single-consumer byte ring: the channel from one rank to another in the shm
// and loopback backends. The cursors may live in shared memory (plain integers accessed through
// SharedAtomic, so the layout is fixed and needs no construction). Lock-free: the producer only
// advances `head`, the consumer only `tail`; both count bytes since the start (never wrap).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "comm/transport.h"

namespace shoal::comm {

// Atomic access to a plain integer in shared memory (std::atomic_ref's interface, with the
// compiler builtins, since macOS's libc++ lacks atomic_ref before LLVM 19).
template <typename T>
class SharedAtomic {
 public:
  explicit SharedAtomic(T& v) : p_(&v) {}
  T load(std::memory_order o = std::memory_order_seq_cst) const {
    return __atomic_load_n(p_, B(o));
  }
  void store(T v, std::memory_order o = std::memory_order_seq_cst) {
    __atomic_store_n(p_, v, B(o));
  }
  T fetch_add(T v, std::memory_order o = std::memory_order_seq_cst) {
    return __atomic_fetch_add(p_, v, B(o));
  }
  bool compare_exchange_strong(T& expected, T desired) {
    return __atomic_compare_exchange_n(p_, &expected, desired, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
  }

 private:
  static constexpr int B(std::memory_order o) {
    switch (o) {
      case std::memory_order_relaxed:
        return __ATOMIC_RELAXED;
      case std::memory_order_acquire:
        return __ATOMIC_ACQUIRE;
      case std::memory_order_release:
        return __ATOMIC_RELEASE;
      case std::memory_order_acq_rel:
        return __ATOMIC_ACQ_REL;
      default:
        return __ATOMIC_SEQ_CST;
    }
  }
  T* p_;
};

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
  void MarkClosed() { SharedAtomic<uint32_t>(c_->closed).store(1, std::memory_order_release); }
  bool closed() const {
    return SharedAtomic<uint32_t>(c_->closed).load(std::memory_order_acquire) != 0;
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
