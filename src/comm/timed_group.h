// A Group that forwards every call to another and adds the time spent inside each call to a
// counter: what a rank spent in collectives (waiting on its peers and moving bytes) rather than
// computing. Several TimedGroups may share one counter (a session's whole group and its pipeline
// stage). The counter is atomic: calls from several threads add up.
#pragma once

#include <atomic>
#include <cstdint>

#include "comm/group.h"

namespace shoal::comm {

class TimedGroup final : public Group {
 public:
  // `inner` and `ns` must outlive this group.
  TimedGroup(Group& inner, std::atomic<int64_t>* ns) : inner_(inner), ns_(ns) {}

  Group& inner() const { return inner_; }
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string_view backend() const override { return inner_.backend(); }
  std::string PeerName(int rank) const override { return inner_.PeerName(rank); }
  Status Send(int peer, const void* data, size_t bytes) override;
  Status Recv(int peer, void* data, size_t bytes) override;
  Status AllReduceSum(void* data, size_t count, ElemType type, Algorithm algo) override;
  Status AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) override;
  Status GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                 int root) override;
  Status Broadcast(void* data, size_t bytes, int root) override;
  Status Barrier() override;
  void SetIoTimeoutMs(int timeout_ms) override { inner_.SetIoTimeoutMs(timeout_ms); }
  void Abort() override { inner_.Abort(); }

 private:
  Group& inner_;
  std::atomic<int64_t>* ns_;
};

}  // namespace shoal::comm
