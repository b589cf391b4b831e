// Exchange: the one primitive the collectives are written in. A set of sends and receives to and
// from peers is started at once and completes as a whole; per peer at most one send and one
// receive (enough for every algorithm here). PeerIo is what a backend provides; StreamPeerIo
// implements it for byte-stream transports with data frames (frame.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/channel.h"
#include "comm/frame.h"
#include "comm/transport.h"

namespace shoal::comm {

struct SendOp {
  int peer;
  const void* data;
  size_t bytes;
};
struct RecvOp {
  int peer;
  void* data;
  size_t bytes;  // the receiver knows the size; a frame of another size is an error
};

class PeerIo {
 public:
  virtual ~PeerIo() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string PeerName(int peer) const = 0;
  // Runs every send and receive concurrently; returns when all completed, or the first error
  // (naming the peer). Zero-byte messages are sent (header only) and must be received.
  virtual Status Exchange(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs) = 0;
  // The group failed: tear the connections down so peers learn it without waiting.
  virtual void Abort() {}
  // Group::SetIoTimeoutMs: <= 0 means no limit. Backends with their own timeouts ignore it.
  virtual void SetIoTimeoutMs(int timeout_ms) { (void)timeout_ms; }
};

struct StreamOptions {
  int io_timeout_ms = 30000;  // no byte moved to/from a waited-on peer for this long: error
                              // (<= 0: no limit)
  bool busy_poll = false;     // spin on non-blocking I/O instead of waiting in Transport::Wait
};

class StreamPeerIo : public PeerIo {
 public:
  // channels: empty (frames as in frame.h, for shm and loopback), or one per rank (null for this
  // rank) whose tags every frame then carries (channel.h; tcp after its handshake).
  StreamPeerIo(std::unique_ptr<Transport> transport, StreamOptions options,
               std::vector<std::unique_ptr<Channel>> channels = {});

  int rank() const override { return transport_->rank(); }
  int size() const override { return transport_->size(); }
  std::string PeerName(int peer) const override { return transport_->PeerName(peer); }
  Status Exchange(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs) override;

  void Abort() override { transport_->Abort(); }
  void SetIoTimeoutMs(int timeout_ms) override { options_.io_timeout_ms = timeout_ms; }
  Transport& transport() { return *transport_; }
  // The channel to `peer` (null without sealing).
  const Channel* channel_for(int peer) const { return channel(peer); }

 private:
  struct SendState {
    const SendOp* op = nullptr;
    uint8_t header[kFrameHeaderBytes];
    const uint8_t* payload = nullptr;  // op->data, or `sealed` (kSeal)
    uint8_t tag[kTagBytes];
    size_t tag_bytes = 0;
    size_t done = 0;              // bytes of header + payload + tag written
    std::vector<uint8_t> sealed;  // kSeal: the encrypted payload (grows, kept)
  };
  struct RecvState {
    const RecvOp* op = nullptr;
    uint8_t header[kFrameHeaderBytes];
    uint8_t tag[kTagBytes];
    size_t tag_bytes = 0;
    size_t done = 0;  // bytes of header + payload + tag read
    bool header_checked = false;
  };
  Channel* channel(int peer) const { return channels_.empty() ? nullptr : channels_[peer].get(); }
  Status StepSend(SendState& s, bool* progressed, bool* finished);
  Status StepRecv(Op op, RecvState& r, bool* progressed, bool* finished);
  Status TimeoutError(Op op, int waited_ms) const;

  std::unique_ptr<Transport> transport_;
  StreamOptions options_;
  std::vector<std::unique_ptr<Channel>> channels_;
  // Per peer (index = rank), reused by every Exchange; the peer lists avoid allocation too.
  std::vector<SendState> sends_;
  std::vector<RecvState> recvs_;
  std::vector<int> pending_send_peers_, pending_recv_peers_;
};

}  // namespace shoal::comm
