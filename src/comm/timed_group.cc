#include "comm/timed_group.h"

#include <chrono>

namespace shoal::comm {
namespace {

// Adds the lifetime of this object to *ns.
class Span {
 public:
  explicit Span(std::atomic<int64_t>* ns) : ns_(ns), t0_(std::chrono::steady_clock::now()) {}
  ~Span() {
    const auto dt = std::chrono::steady_clock::now() - t0_;
    ns_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count(),
                   std::memory_order_relaxed);
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  std::atomic<int64_t>* ns_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

Status TimedGroup::Send(int peer, const void* data, size_t bytes) {
  Span s(ns_);
  return inner_.Send(peer, data, bytes);
}

Status TimedGroup::Recv(int peer, void* data, size_t bytes) {
  Span s(ns_);
  return inner_.Recv(peer, data, bytes);
}

Status TimedGroup::AllReduceSum(void* data, size_t count, ElemType type, Algorithm algo) {
  Span s(ns_);
  return inner_.AllReduceSum(data, count, type, algo);
}

Status TimedGroup::AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) {
  Span s(ns_);
  return inner_.AllGatherV(in, out, bytes_per_rank);
}

Status TimedGroup::GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                           int root) {
  Span s(ns_);
  return inner_.GatherV(in, out, bytes_per_rank, root);
}

Status TimedGroup::Broadcast(void* data, size_t bytes, int root) {
  Span s(ns_);
  return inner_.Broadcast(data, bytes, root);
}

Status TimedGroup::Barrier() {
  Span s(ns_);
  return inner_.Barrier();
}

}  // namespace shoal::comm
