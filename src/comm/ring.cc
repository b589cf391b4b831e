#include "comm/ring.h"

#include <algorithm>
#include <cstring>

namespace shoal::comm {

size_t ByteRing::Write(std::span<const ConstBuf> bufs) {
  SharedAtomic<uint64_t> head(c_->head), tail(c_->tail);
  const uint64_t h = head.load(std::memory_order_relaxed);
  const uint64_t used = h - tail.load(std::memory_order_acquire);
  if (used > cap_) return 0;  // corrupt cursors: nothing is trusted (the peer times out)
  const uint64_t space = cap_ - used;
  uint64_t pos = h;
  for (const ConstBuf& b : bufs) {
    size_t left = std::min<uint64_t>(b.bytes, space - (pos - h));
    const uint8_t* src = static_cast<const uint8_t*>(b.data);
    while (left > 0) {
      const size_t at = pos & (cap_ - 1);
      const size_t m = std::min(left, cap_ - at);
      std::memcpy(data_ + at, src, m);
      src += m;
      pos += m;
      left -= m;
    }
    if (pos - h == space) break;
  }
  if (pos != h) head.store(pos, std::memory_order_release);
  return pos - h;
}

size_t ByteRing::Read(std::span<const MutBuf> bufs) {
  SharedAtomic<uint64_t> head(c_->head), tail(c_->tail);
  const uint64_t t = tail.load(std::memory_order_relaxed);
  const uint64_t avail = head.load(std::memory_order_acquire) - t;
  if (avail > cap_) return 0;  // corrupt cursors: nothing is trusted (the peer times out)
  uint64_t pos = t;
  for (const MutBuf& b : bufs) {
    size_t left = std::min<uint64_t>(b.bytes, avail - (pos - t));
    uint8_t* dst = static_cast<uint8_t*>(b.data);
    while (left > 0) {
      const size_t at = pos & (cap_ - 1);
      const size_t m = std::min(left, cap_ - at);
      std::memcpy(dst, data_ + at, m);
      dst += m;
      pos += m;
      left -= m;
    }
    if (pos - t == avail) break;
  }
  if (pos != t) tail.store(pos, std::memory_order_release);
  return pos - t;
}

size_t ByteRing::Readable() const {
  SharedAtomic<uint64_t> head(c_->head), tail(c_->tail);
  return head.load(std::memory_order_acquire) - tail.load(std::memory_order_relaxed);
}

}  // namespace shoal::comm

namespace shoal::comm {

RingTransport::~RingTransport() = default;

void RingTransport::Abort() {
  for (int p = 0; p < size_; ++p) {
    if (p != rank_) out_[p].MarkClosed();
  }
}

Status RingTransport::TryWrite(int peer, std::span<const ConstBuf> bufs, size_t* moved) {
  // A peer that left marks its outgoing ring to us closed; it will never read again.
  if (in_[peer].closed()) return Unavailable("the peer left the group");
  *moved = out_[peer].Write(bufs);
  return Status::Ok();
}

Status RingTransport::TryRead(int peer, std::span<const MutBuf> bufs, size_t* moved) {
  *moved = in_[peer].Read(bufs);
  if (*moved == 0 && in_[peer].closed()) {
    *moved = in_[peer].Read(bufs);  // bytes written just before it closed
    if (*moved == 0) return Unavailable("the peer left the group");
  }
  return Status::Ok();
}

Status RingTransport::Wait(std::span<const int>, std::span<const int>, int, uint64_t idle_rounds) {
  IdleBackoff(idle_rounds);
  return Status::Ok();
}

}  // namespace shoal::comm
