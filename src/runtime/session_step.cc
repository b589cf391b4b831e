// Session::Step, the batched entry of the forward pass (session.cc): checks a batch of several
// sequences' entries and runs it in passes of at most kMaxBatchTokens rows.
#include <algorithm>
#include <string>

#include "runtime/session.h"

namespace shoal::runtime {

Status Session::CheckStep(const StepBatch& batch) const {
  const model::ModelConfig& c = model_.config();
  if (batch.entries.empty()) return InvalidArgument("Step: no entries");
  std::vector<int32_t> last(batch.tables.size(), -1);
  for (size_t i = 0; i < batch.entries.size(); ++i) {
    const StepEntry& e = batch.entries[i];
    const auto at = [i] { return "Step entry " + std::to_string(i) + ": "; };
    if (e.seq < 0 || size_t(e.seq) >= batch.tables.size()) {
      return InvalidArgument(at() + "sequence " + std::to_string(e.seq) + " out of range");
    }
    if (e.pos < 0 || e.pos >= n_ctx_) {
      return InvalidArgument(at() + "position " + std::to_string(e.pos) + " out of [0, " +
                             std::to_string(n_ctx_) + ")");
    }
    if (e.token < 0 || e.token >= c.n_vocab) {
      return InvalidArgument(at() + "token id " + std::to_string(e.token) + " out of range");
    }
    if (e.logits != 0 && e.logits != 1) return InvalidArgument(at() + "bad logits flag");
    if (e.pos <= last[size_t(e.seq)]) {
      return InvalidArgument(at() + "positions of a sequence must increase");
    }
    last[size_t(e.seq)] = e.pos;
    if (size_t(e.pos / kBlockTokens) >= batch.tables[size_t(e.seq)].size()) {
      return InvalidArgument(at() + "the block table is too short for position " +
                             std::to_string(e.pos));
    }
  }
  for (const auto& t : batch.tables) {
    for (int32_t b : t) {
      if (b < 0 || b >= kv_.n_blocks()) {
        return InvalidArgument("Step: block id " + std::to_string(b) + " out of [0, " +
                               std::to_string(kv_.n_blocks()) + ")");
      }
    }
  }
  return Status::Ok();
}

StatusOr<std::span<const float>> Session::Step(const StepBatch& batch) {
  const model::ModelConfig& c = model_.config();
  SHOAL_RETURN_IF_ERROR(CheckStep(batch));
  const size_t n = batch.entries.size();
  const bool root = par_.group == nullptr || par_.group->rank() == 0;
  size_t n_out = 0;
  for (const StepEntry& e : batch.entries) n_out += size_t(e.logits);
  logits_.resize(root ? n_out * size_t(c.n_vocab) : 0);
  const size_t B = std::min<size_t>(kMaxBatchTokens, n);
  std::vector<int32_t> tokens(B), pos(B), out(B);
  std::vector<const int32_t*> tables(B);
  size_t done_out = 0;
  for (size_t t0 = 0; t0 < n; t0 += kMaxBatchTokens) {
    const int32_t nb = static_cast<int32_t>(std::min<size_t>(kMaxBatchTokens, n - t0));
    int32_t no = 0;
    for (int32_t t = 0; t < nb; ++t) {
      const StepEntry& e = batch.entries[t0 + size_t(t)];
      tokens[size_t(t)] = e.token;
      pos[size_t(t)] = e.pos;
      tables[size_t(t)] = batch.tables[size_t(e.seq)].data();
      if (e.logits != 0) out[size_t(no++)] = t;
    }
    float* dst = root && no > 0 ? logits_.data() + done_out * c.n_vocab : nullptr;
    invariant_reduce_ = true;
    const Status st =
        EvalBatch(Rows{tokens.data(), pos.data(), tables.data(), nb, out.data(), no}, dst);
    invariant_reduce_ = false;
    SHOAL_RETURN_IF_ERROR(st);
    done_out += size_t(no);
  }
  return std::span<const float>(logits_);
}

Status Session::Rewind(int32_t n_past) {
  if (n_past < 0 || n_past > n_past_) {
    return InvalidArgument("cannot rewind to position " + std::to_string(n_past) + " of " +
                           std::to_string(n_past_));
  }
  n_past_ = n_past;
  return Status::Ok();
}

int32_t KvBlocksFor(const model::Model& m, int32_t n_ctx, int32_t max_sequences,
                    uint64_t budget_bytes) {
  const int64_t one = (int64_t(std::max(n_ctx, 1)) + kBlockTokens - 1) / kBlockTokens;
  int64_t n = one * std::max(max_sequences, 1);
  const uint64_t per_block = model::ShardKvCacheBytes(m.config(), m.shard(), kBlockTokens);
  if (budget_bytes > 0 && per_block > 0)
    n = std::min<int64_t>(n, int64_t(budget_bytes / per_block));
  n = std::min<int64_t>(n, (int64_t{1} << 30) / kBlockTokens);
  return int32_t(std::max(n, one));
}

}  // namespace shoal::runtime
