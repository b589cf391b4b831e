#include "comm/exchange.h"

#include <sched.h>
#include <time.h>

#include <algorithm>

namespace shoal::comm {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

void IdleBackoff(uint64_t idle_rounds) {
  if (idle_rounds < 64) {
    CpuRelax();
  } else if (idle_rounds < 256) {
    sched_yield();
  } else {
    // Short sleeps: ~20-50 us of added latency once a peer has been quiet for a while.
    timespec ts{0, idle_rounds < 2048 ? 20000 : 50000};
    nanosleep(&ts, nullptr);
  }
}

StreamPeerIo::StreamPeerIo(std::unique_ptr<Transport> transport, StreamOptions options,
                           std::vector<std::unique_ptr<Channel>> channels)
    : transport_(std::move(transport)), options_(options), channels_(std::move(channels)) {
  const int n = transport_->size();
  sends_.resize(n);
  recvs_.resize(n);
  pending_send_peers_.reserve(n);
  pending_recv_peers_.reserve(n);
  if (!channels_.empty()) channels_.resize(n);
}

namespace {

// What is left of the frame [header][payload][tag] after `done` bytes, as at most 3 buffers.
template <typename Buf, typename Ptr>
size_t FrameTail(const Ptr (&ptr)[3], const size_t (&len)[3], size_t done, Buf* bufs) {
  size_t nb = 0;
  for (int i = 0; i < 3; ++i) {
    if (done >= len[i]) {
      done -= len[i];
      continue;
    }
    bufs[nb++] = {ptr[i] + done, len[i] - done};
    done = 0;
  }
  return nb;
}

}  // namespace

Status StreamPeerIo::StepSend(SendState& s, bool* progressed, bool* finished) {
  const uint8_t* ptr[3] = {s.header, s.payload, s.tag};
  const size_t len[3] = {kFrameHeaderBytes, s.op->bytes, s.tag_bytes};
  ConstBuf bufs[3];
  const size_t nb = FrameTail(ptr, len, s.done, bufs);
  if (nb == 0) {
    *finished = true;
    return Status::Ok();
  }
  size_t moved = 0;
  SHOAL_RETURN_IF_ERROR(transport_->TryWrite(s.op->peer, std::span(bufs, nb), &moved));
  if (moved > 0) {
    *progressed = true;
    s.done += moved;
    *finished = s.done == kFrameHeaderBytes + s.op->bytes + s.tag_bytes;
  }
  return Status::Ok();
}

Status StreamPeerIo::StepRecv(Op op, RecvState& r, bool* progressed, bool* finished) {
  uint8_t* ptr[3] = {r.header, static_cast<uint8_t*>(r.op->data), r.tag};
  const size_t len[3] = {kFrameHeaderBytes, r.op->bytes, r.tag_bytes};
  const size_t total = kFrameHeaderBytes + r.op->bytes + r.tag_bytes;
  MutBuf bufs[3];
  const size_t nb = FrameTail(ptr, len, r.done, bufs);
  size_t moved = 0;
  if (nb > 0) {
    SHOAL_RETURN_IF_ERROR(transport_->TryRead(r.op->peer, std::span(bufs, nb), &moved));
  }
  r.done += moved;
  if (moved > 0) *progressed = true;
  if (!r.header_checked && r.done >= kFrameHeaderBytes) {
    const FrameHeader h = DecodeFrameHeader(r.header);
    if (h.magic != kFrameMagic || h.type != kFrameData) {
      return Corrupt("sent bytes that are not a data frame (magic " + std::to_string(h.magic) +
                     ", type " + std::to_string(h.type) + ")");
    }
    if (h.op != static_cast<uint8_t>(op)) {
      return Corrupt("sent a " + std::string(OpName(static_cast<Op>(h.op))) +
                     " frame (ranks must call the same collectives in the same order)");
    }
    if (h.bytes != r.op->bytes) {
      return Corrupt("sent a frame of " + std::to_string(h.bytes) + " bytes where " +
                     std::to_string(r.op->bytes) +
                     " were expected (sizes must match on every rank)");
    }
    r.header_checked = true;
  }
  *finished = r.header_checked && r.done == total;
  if (*finished) {
    if (Channel* ch = channel(r.op->peer)) {
      SHOAL_RETURN_IF_ERROR(ch->Open(r.header, r.op->data, r.op->bytes, r.tag));
    }
  }
  return Status::Ok();
}

Status StreamPeerIo::TimeoutError(Op op, int waited_ms) const {
  std::string what;
  int peer = -1;
  if (!pending_recv_peers_.empty()) {
    peer = pending_recv_peers_.front();
    const RecvState& r = recvs_[peer];
    what = "nothing received for " + std::to_string(waited_ms) + " ms (got " +
           std::to_string(r.done) + " of " +
           std::to_string(kFrameHeaderBytes + r.op->bytes + r.tag_bytes) + " frame bytes)";
  } else {
    peer = pending_send_peers_.front();
    const SendState& s = sends_[peer];
    what = "could not send for " + std::to_string(waited_ms) + " ms (sent " +
           std::to_string(s.done) + " of " +
           std::to_string(kFrameHeaderBytes + s.op->bytes + s.tag_bytes) + " frame bytes)";
  }
  return Unavailable(std::string(OpName(op)) + " with " + PeerName(peer) + ": " + what +
                     "; the peer is silent, stopped or overloaded");
}

Status StreamPeerIo::Exchange(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs) {
  const int n = size();
  pending_send_peers_.clear();
  pending_recv_peers_.clear();
  struct Reset {  // leaves every per-peer slot free, whatever the outcome
    StreamPeerIo* self;
    ~Reset() {
      for (auto& s : self->sends_) s.op = nullptr;
      for (auto& r : self->recvs_) r.op = nullptr;
    }
  } reset{this};
  for (const SendOp& s : sends) {
    if (s.peer < 0 || s.peer >= n || s.peer == rank() || sends_[s.peer].op != nullptr) {
      return Internal("exchange: bad or repeated send peer " + std::to_string(s.peer));
    }
    SendState& st = sends_[s.peer];
    st.op = &s;
    st.done = 0;
    FrameHeader h;
    h.op = static_cast<uint8_t>(op);
    h.bytes = s.bytes;
    EncodeFrameHeader(h, st.header);
    st.payload = static_cast<const uint8_t*>(s.data);
    st.tag_bytes = 0;
    if (Channel* ch = channel(s.peer)) {
      st.tag_bytes = ch->tag_bytes();
      if (ch->security() == LinkSecurity::kSeal && s.bytes > 0) {
        if (st.sealed.size() < s.bytes) st.sealed.resize(s.bytes);
        st.payload = st.sealed.data();
      }
      Status sealed = ch->Seal(st.header, s.data, s.bytes, st.sealed.data(), st.tag);
      if (!sealed.ok()) return sealed.With(std::string(OpName(op)) + " to " + PeerName(s.peer));
    }
    pending_send_peers_.push_back(s.peer);
  }
  for (const RecvOp& r : recvs) {
    if (r.peer < 0 || r.peer >= n || r.peer == rank() || recvs_[r.peer].op != nullptr) {
      return Internal("exchange: bad or repeated receive peer " + std::to_string(r.peer));
    }
    RecvState& st = recvs_[r.peer];
    st.op = &r;
    st.done = 0;
    st.header_checked = false;
    const Channel* ch = channel(r.peer);
    st.tag_bytes = ch != nullptr ? ch->tag_bytes() : 0;
    pending_recv_peers_.push_back(r.peer);
  }

  auto last_progress = Clock::now();
  auto last_check = last_progress;
  uint64_t idle_rounds = 0;
  while (!pending_send_peers_.empty() || !pending_recv_peers_.empty()) {
    bool progressed = false;
    for (size_t i = 0; i < pending_send_peers_.size();) {
      const int peer = pending_send_peers_[i];
      bool finished = false;
      Status st = StepSend(sends_[peer], &progressed, &finished);
      if (!st.ok()) return st.With(std::string(OpName(op)) + " with " + PeerName(peer));
      if (finished) {
        pending_send_peers_[i] = pending_send_peers_.back();
        pending_send_peers_.pop_back();
      } else {
        ++i;
      }
    }
    for (size_t i = 0; i < pending_recv_peers_.size();) {
      const int peer = pending_recv_peers_[i];
      bool finished = false;
      Status st = StepRecv(op, recvs_[peer], &progressed, &finished);
      if (!st.ok()) return st.With(std::string(OpName(op)) + " with " + PeerName(peer));
      if (finished) {
        pending_recv_peers_[i] = pending_recv_peers_.back();
        pending_recv_peers_.pop_back();
      } else {
        ++i;
      }
    }
    if (progressed) {
      idle_rounds = 0;
      last_progress = Clock::now();
      continue;
    }
    if (pending_send_peers_.empty() && pending_recv_peers_.empty()) break;
    ++idle_rounds;
    if (options_.busy_poll && (idle_rounds & 255) != 0) {
      // Spinning; a yield now and then lets the kernel's network work (softirq threads) and
      // other ranks on the same core run: without it tcp on a busy box stalls for whole ticks.
      if ((idle_rounds & 31) == 0) sched_yield();
      continue;
    }
    const int64_t idle_ms = MsSince(last_progress);
    const bool limited = options_.io_timeout_ms > 0;
    if (limited && idle_ms >= options_.io_timeout_ms) {
      return TimeoutError(op, static_cast<int>(idle_ms));
    }
    if (MsSince(last_check) >= 10) {  // a dead peer is reported without waiting the timeout
      last_check = Clock::now();
      for (const auto* list : {&pending_recv_peers_, &pending_send_peers_}) {
        for (int peer : *list) {
          Status st = transport_->CheckPeer(peer);
          if (!st.ok()) return st.With(std::string(OpName(op)) + " with " + PeerName(peer));
        }
      }
    }
    if (!options_.busy_poll) {
      const int max_wait_ms = static_cast<int>(
          limited ? std::min<int64_t>(options_.io_timeout_ms - idle_ms, 100) : 100);
      SHOAL_RETURN_IF_ERROR(transport_->Wait(pending_send_peers_, pending_recv_peers_,
                                             std::max(max_wait_ms, 1), idle_rounds));
    }
  }
  return Status::Ok();
}

}  // namespace shoal::comm
