#include "runtime/executor.h"

#include <string>
#include <vector>

#include "base/sysinfo.h"

namespace shoal::runtime {
namespace {

enum Op : uint32_t { kEval = 1, kReset = 2, kFinish = 3 };
constexpr uint32_t kAllLogits = 1;

struct CommandHeader {
  uint32_t op = 0, n_tokens = 0, flags = 0, reserved = 0;
};
static_assert(sizeof(CommandHeader) == 16);

}  // namespace

Executor::~Executor() {
  if (group_ != nullptr && group_->rank() == 0) (void)Finish();
}

Status Executor::Command(uint32_t op, uint32_t n_tokens, uint32_t flags) {
  CommandHeader h{op, n_tokens, flags, 0};
  return group_->Broadcast(&h, sizeof(h), 0);
}

StatusOr<std::span<const float>> Executor::Eval(std::span<const int32_t> tokens, bool all_logits) {
  if (group_ == nullptr || group_->size() == 1) return session_.Eval(tokens, all_logits);
  if (finished_) return Internal("Executor::Eval after Finish");
  // Refuse what Session::Eval would refuse before the workers see it.
  SHOAL_RETURN_IF_ERROR(session_.Check(tokens));
  SHOAL_RETURN_IF_ERROR(Command(kEval, uint32_t(tokens.size()), all_logits ? kAllLogits : 0));
  std::vector<int32_t> ids(tokens.begin(), tokens.end());
  SHOAL_RETURN_IF_ERROR(group_->Broadcast(ids.data(), ids.size() * sizeof(int32_t), 0));
  return session_.Eval(tokens, all_logits);
}

Status Executor::Reset() {
  session_.Reset();
  if (group_ == nullptr || group_->size() == 1 || finished_) return Status::Ok();
  return Command(kReset, 0, 0);
}

Status Executor::Finish() {
  if (group_ == nullptr || group_->size() == 1 || finished_) return Status::Ok();
  finished_ = true;
  SHOAL_RETURN_IF_ERROR(Command(kFinish, 0, 0));
  const uint64_t mine = PeakResidentBytes();
  peak_rss_.assign(size_t(group_->size()), 0);
  std::vector<size_t> sizes(peak_rss_.size(), sizeof(uint64_t));
  return group_->GatherV(&mine, peak_rss_.data(), sizes, 0);
}

Status Executor::Serve(Session& session, comm::Group& group) {
  std::vector<int32_t> ids;
  for (;;) {
    CommandHeader h;
    SHOAL_RETURN_IF_ERROR(group.Broadcast(&h, sizeof(h), 0));
    switch (h.op) {
      case kFinish: {
        const uint64_t mine = PeakResidentBytes();
        std::vector<size_t> sizes(size_t(group.size()), sizeof(uint64_t));
        return group.GatherV(&mine, nullptr, sizes, 0);
      }
      case kReset:
        session.Reset();
        break;
      case kEval: {
        if (h.n_tokens == 0 || int64_t(h.n_tokens) + session.n_past() > session.n_ctx() ||
            (h.flags & ~kAllLogits) != 0) {
          return Corrupt("rank 0 sent an eval of " + std::to_string(h.n_tokens) +
                         " tokens (flags " + std::to_string(h.flags) + ") at position " +
                         std::to_string(session.n_past()) + " of " +
                         std::to_string(session.n_ctx()));
        }
        ids.resize(h.n_tokens);
        SHOAL_RETURN_IF_ERROR(group.Broadcast(ids.data(), ids.size() * sizeof(int32_t), 0));
        SHOAL_RETURN_IF_ERROR(session.Eval(ids, (h.flags & kAllLogits) != 0).status());
        break;
      }
      default:
        return Corrupt("rank 0 sent unknown command " + std::to_string(h.op));
    }
  }
}

}  // namespace shoal::runtime
