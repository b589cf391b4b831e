#include "runtime/executor.h"

#include <string>
#include <vector>

#include "base/sysinfo.h"

namespace shoal::runtime {
namespace {

enum Op : uint32_t { kEval = 1, kReset = 2, kFinish = 3, kStep = 4 };
constexpr uint32_t kAllLogits = 1;
constexpr uint32_t kMaxStepEntries = 1u << 16;  // entries of one kStep, at most

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

namespace {
// The payload of a kStep: entries, table lengths, block ids (little-endian i32/u32).
std::vector<int32_t> EncodeStep(const StepBatch& b) {
  std::vector<int32_t> out;
  out.reserve(b.entries.size() * 4 + b.tables.size());
  for (const StepEntry& e : b.entries) {
    out.insert(out.end(), {e.seq, e.pos, e.token, e.logits});
  }
  for (const auto& t : b.tables) out.push_back(int32_t(t.size()));
  for (const auto& t : b.tables) out.insert(out.end(), t.begin(), t.end());
  return out;
}
}  // namespace

StatusOr<std::span<const float>> Executor::Step(const StepBatch& batch) {
  if (group_ == nullptr || group_->size() == 1) return session_.Step(batch);
  if (finished_) return Internal("Executor::Step after Finish");
  SHOAL_RETURN_IF_ERROR(session_.CheckStep(batch));
  if (batch.entries.size() > kMaxStepEntries) {
    return InvalidArgument("a step of " + std::to_string(batch.entries.size()) +
                           " entries; at most " + std::to_string(kMaxStepEntries));
  }
  const std::vector<int32_t> payload = EncodeStep(batch);
  const size_t n_ids = payload.size() - batch.entries.size() * 4 - batch.tables.size();
  CommandHeader h{kStep, uint32_t(batch.entries.size()), uint32_t(batch.tables.size()),
                  uint32_t(n_ids)};
  SHOAL_RETURN_IF_ERROR(group_->Broadcast(&h, sizeof(h), 0));
  SHOAL_RETURN_IF_ERROR(
      group_->Broadcast(const_cast<int32_t*>(payload.data()), payload.size() * sizeof(int32_t), 0));
  return session_.Step(batch);
}

Status Executor::Reset() {
  session_.Reset();
  if (group_ == nullptr || group_->size() == 1 || finished_) return Status::Ok();
  return Command(kReset, 0, 0);
}

Status Executor::Rewind(int32_t n_past) {
  SHOAL_RETURN_IF_ERROR(session_.Rewind(n_past));
  if (group_ == nullptr || group_->size() == 1 || finished_) return Status::Ok();
  return Command(kReset, uint32_t(n_past), 0);
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

namespace {

// A worker's side of kStep: bounds every count of the header before allocating, reads the
// payload and checks it as a batch.
Status ServeStep(Session& session, comm::Group& group, const CommandHeader& h, StepBatch* b,
                 std::vector<int32_t>* payload) {
  const uint64_t max_ids = uint64_t(h.flags) * (uint64_t(session.n_ctx()) / kBlockTokens + 1);
  if (h.n_tokens == 0 || h.n_tokens > kMaxStepEntries || h.flags == 0 || h.flags > h.n_tokens ||
      uint64_t(h.reserved) > max_ids || uint64_t(h.reserved) > (uint64_t{1} << 24)) {
    return Corrupt("rank 0 sent a step of " + std::to_string(h.n_tokens) + " entries, " +
                   std::to_string(h.flags) + " sequences and " + std::to_string(h.reserved) +
                   " block ids");
  }
  const size_t n_entries = h.n_tokens, n_tables = h.flags, n_ids = h.reserved;
  payload->resize(n_entries * 4 + n_tables + n_ids);
  SHOAL_RETURN_IF_ERROR(group.Broadcast(payload->data(), payload->size() * sizeof(int32_t), 0));
  const int32_t* p = payload->data();
  b->entries.resize(n_entries);
  for (StepEntry& e : b->entries) {
    e = StepEntry{p[0], p[1], p[2], p[3]};
    p += 4;
  }
  b->tables.resize(n_tables);
  const int32_t* ids = p + n_tables;
  size_t used = 0;
  for (size_t i = 0; i < n_tables; ++i) {
    const int32_t len = p[i];
    if (len < 0 || size_t(len) > n_ids - used) {
      return Corrupt("rank 0 sent a step whose block tables exceed its " + std::to_string(n_ids) +
                     " ids");
    }
    b->tables[i].assign(ids + used, ids + used + len);
    used += size_t(len);
  }
  if (used != n_ids) return Corrupt("rank 0 sent a step with unused block ids");
  const Status st = session.CheckStep(*b);
  if (!st.ok()) return Corrupt("rank 0 sent a bad step: " + st.message());
  return session.Step(*b).status();
}

}  // namespace

Status Executor::Serve(Session& session, comm::Group& group, int step_io_timeout_ms) {
  std::vector<int32_t> ids;
  StepBatch batch;
  for (;;) {
    CommandHeader h;
    if (step_io_timeout_ms >= 0) group.SetIoTimeoutMs(0);  // idle: wait as long as it takes
    SHOAL_RETURN_IF_ERROR(group.Broadcast(&h, sizeof(h), 0));
    if (step_io_timeout_ms >= 0) group.SetIoTimeoutMs(step_io_timeout_ms);
    switch (h.op) {
      case kStep:
        SHOAL_RETURN_IF_ERROR(ServeStep(session, group, h, &batch, &ids));
        break;
      case kFinish: {
        const uint64_t mine = PeakResidentBytes();
        std::vector<size_t> sizes(size_t(group.size()), sizeof(uint64_t));
        return group.GatherV(&mine, nullptr, sizes, 0);
      }
      case kReset:  // n_tokens: the position to rewind to (0: all)
        if (h.n_tokens > uint32_t(session.n_past())) {
          return Corrupt("rank 0 sent a rewind to position " + std::to_string(h.n_tokens) + " of " +
                         std::to_string(session.n_past()));
        }
        SHOAL_RETURN_IF_ERROR(session.Rewind(int32_t(h.n_tokens)));
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
