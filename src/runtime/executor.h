// Drives a model split across a comm::Group. Rank 0 owns the requests: each Eval/Reset is
// broadcast as a small command, then every rank evaluates its shard (runtime::Session) and the
// logits are gathered on rank 0. The other ranks run Serve until rank 0 calls Finish.
//
// Command (broadcast from rank 0, little-endian): u32 op, u32 n_tokens, u32 flags, u32 reserved;
// for kEval the token ids follow as a second broadcast of n_tokens * 4 bytes. Workers bound
// n_tokens by their context before allocating. kStep (a batch of several sequences,
// Session::Step): u32 op, u32 n_entries, u32 n_tables, u32 n_ids, then one broadcast of
// n_entries * 16 bytes of entries (i32 seq, pos, token, logits), n_tables u32 table lengths and
// n_ids i32 block ids (the tables one after the other); workers bound every count before
// allocating and check the batch as Session::CheckStep does. After kFinish every rank sends rank
// 0 its peak resident memory (GatherV of one u64 each). docs/wire-protocol.md has the details.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "comm/group.h"
#include "runtime/session.h"

namespace shoal::runtime {

class Executor {
 public:
  // group may be nullptr (one whole model, nothing to coordinate).
  Executor(Session& session, comm::Group* group) : session_(session), group_(group) {}
  ~Executor();  // rank 0: Finish if not done (errors ignored)

  // Rank 0 only. Same contract as Session::Eval; bad input is refused before anything is sent.
  StatusOr<std::span<const float>> Eval(std::span<const int32_t> tokens, bool all_logits = false);
  Status Reset();
  // Rank 0 only. Session::Rewind on every rank (kReset with n_tokens = n_past).
  Status Rewind(int32_t n_past);
  // Rank 0 only. Same contract as Session::Step; bad input is refused before anything is sent.
  StatusOr<std::span<const float>> Step(const StepBatch& batch);
  // Ends the workers' Serve (they return Ok) and collects every rank's peak resident memory.
  // Idempotent.
  Status Finish();
  // After Finish: peak resident bytes of each rank (rank order; empty when not pooled).
  const std::vector<uint64_t>& peak_resident_bytes() const { return peak_rss_; }
  int32_t n_past() const { return session_.n_past(); }
  int32_t n_ctx() const { return session_.n_ctx(); }
  int32_t kv_blocks() const { return session_.kv_blocks(); }
  int32_t n_vocab() const { return session_.model().config().n_vocab; }
  // Rank 0: every rank's compute time per step (runtime/step_times.h).
  const StepTimes& step_times() const { return session_.step_times(); }

  // Ranks > 0: executes rank 0's commands until Finish (Ok), a group error or a malformed
  // command (its error; the group is then unusable). With step_io_timeout_ms >= 0 the group
  // waits for each command with no I/O timeout (an idle pool stays up) and runs the command
  // under step_io_timeout_ms (the job's timeout; 0: none); < 0 leaves the group's timeout alone.
  static Status Serve(Session& session, comm::Group& group, int step_io_timeout_ms = -1);

 private:
  Status Command(uint32_t op, uint32_t n_tokens, uint32_t flags);
  Session& session_;
  comm::Group* group_;
  bool finished_ = false;
  std::vector<uint64_t> peak_rss_;
};

}  // namespace shoal::runtime
