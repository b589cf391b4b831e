// One sequence being evaluated on a model: its KV cache, its position and its scratch buffers.
// Eval appends tokens (a whole prompt at once or one token at a time) and returns logits.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "comm/group.h"
#include "model/model.h"
#include "runtime/kv_cache.h"

namespace shoal::runtime {

class MoeFfn;
class MlaAttention;

// The expert exchanges (the all-reduce of each MoE layer's partial sums) a pooled session made.
struct ExchangeStats {
  int64_t count = 0;        // exchanges (MoE layers x batches)
  uint64_t bytes = 0;       // payload summed over the exchanges (per rank, f32 rows)
  double seconds = 0.0;     // wall time in the all-reduce, waits included
  int64_t pairs = 0;        // (token, expert) pairs routed
  int64_t local_pairs = 0;  // of those, run on this rank
};

// How this rank's shard (Model::shard()) works with the others: tensor parallelism within its
// pipeline stage (partial sums all-reduced over `stage`), the stage's input from the previous
// stage and its output to the next, and the logits gathered on rank 0 of `group`.
struct Parallelism {
  comm::Group* group = nullptr;  // every rank of the job; nullptr: the model is whole
  comm::Group* stage = nullptr;  // the ranks of this rank's stage; nullptr: all of `group`
  // Rows of the logits each rank of `group` computes (empty outside the last stage), rank order.
  std::vector<model::Range> vocab_by_rank;
  int prev_stage_rank = -1;           // rank of `group` that sends this stage its input
  std::vector<int> next_stage_ranks;  // ranks this stage's first rank sends its output to
};

class Session {
 public:
  // n_ctx <= 0: the model's training context length.
  // The KV cache is allocated here: callers that cannot trust n_ctx use Create.
  Session(const model::Model& m, ThreadPool& pool, int32_t n_ctx, const Parallelism& par = {});
  // Like the constructor, but returns ResourceExhausted when the KV cache and scratch buffers
  // would not fit in the machine's available memory, InvalidArgument for n_ctx < 0 or a shard
  // without its group.
  static StatusOr<std::unique_ptr<Session>> Create(const model::Model& m, ThreadPool& pool,
                                                   int32_t n_ctx, const Parallelism& par = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One pool runs one Eval at a time (ThreadPool::Run is not reentrant): sessions sharing a pool
  // must not Eval concurrently.
  // Appends tokens at the current position; returns the last token's logits (n_vocab floats) or,
  // with all_logits, n_tokens * n_vocab row-major. The span is valid until the next Eval/Reset.
  // Errors (nothing is appended): empty input, context full, token id out of range.
  // Pooled, every rank calls Eval with the same tokens; rank 0 gets the logits, the others an
  // empty span. A failed collective returns its error (the group is then unusable).
  StatusOr<std::span<const float>> Eval(std::span<const int32_t> tokens, bool all_logits = false);
  // The errors Eval would return for these tokens, without evaluating anything.
  Status Check(std::span<const int32_t> tokens) const;
  void Reset() { n_past_ = 0; }
  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return kv_.n_ctx(); }
  const model::Model& model() const { return model_; }
  size_t kv_cache_bytes() const { return kv_.bytes(); }
  const ExchangeStats& exchange_stats() const { return exchange_; }
  void ResetExchangeStats() { exchange_ = {}; }

 private:
  struct Scratch;
  // Runs n_tok <= kMaxBatch tokens; with want_logits computes the logits (last token's, or all)
  // into `logits` (rank 0; others pass nullptr).
  Status EvalBatch(const int32_t* tokens, int32_t n_tok, bool all_logits, bool want_logits,
                   float* logits);
  Status Reduce(float* data, size_t count);  // sum over this stage's ranks

  const model::Model& model_;
  ThreadPool& pool_;
  Parallelism par_;
  comm::Group* stage_ = nullptr;  // par_.stage, or par_.group
  KvCache kv_;
  int32_t n_past_ = 0;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<MlaAttention> mla_;  // ModelConfig::mla: the attention of every layer
  std::unique_ptr<MoeFfn> moe_;        // n_expert > 0: the FFN of the MoE layers
  std::vector<float> logits_;
  std::vector<float> gathered_;  // rank 0: [rank][n_out][n_vocab_r] before reordering
  ExchangeStats exchange_;
};

}  // namespace shoal::runtime
