// A Group made of some ranks of another group (the tensor-parallel ranks of one pipeline stage),
// built on the parent's point-to-point Send/Recv alone, so it works over every backend.
//
// Collectives use the direct algorithm: every member exchanges its whole vector with every other
// member, pair by pair in one global order ((0,1), (0,2), ..., (1,2), ...; in each pair the lower
// member sends first), which cannot deadlock on blocking sends; contributions are summed in member
// order, so every member gets bit-identical results. Latency grows with the pair count: this is
// for stages of a few ranks, not a replacement for the backends' own collectives.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/group.h"

namespace shoal::comm {

class SubGroup : public Group {
 public:
  // members: ranks of `parent`, ascending, including parent.rank(). parent must outlive this.
  static StatusOr<std::unique_ptr<SubGroup>> Create(Group& parent, std::vector<int> members);

  int rank() const override { return me_; }
  int size() const override { return int(members_.size()); }
  std::string_view backend() const override { return parent_.backend(); }
  std::string PeerName(int rank) const override { return parent_.PeerName(members_[rank]); }
  Status Send(int peer, const void* data, size_t bytes) override;
  Status Recv(int peer, void* data, size_t bytes) override;
  Status AllReduceSum(void* data, size_t count, ElemType type,
                      Algorithm algo = Algorithm::kAuto) override;
  Status AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) override;
  Status GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                 int root) override;
  Status Broadcast(void* data, size_t bytes, int root) override;
  Status Barrier() override;

 private:
  SubGroup(Group& parent, std::vector<int> members, int me)
      : parent_(parent), members_(std::move(members)), me_(me) {}
  // Every ordered pair exchange: calls fn(peer) for each other member in the global pair order.
  template <typename Fn>
  Status Pairwise(Fn&& fn);

  Group& parent_;
  std::vector<int> members_;
  int me_;
  std::vector<std::vector<uint8_t>> inbox_;  // per member: its last contribution
};

}  // namespace shoal::comm
