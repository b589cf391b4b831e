// A model being evaluated: its KV cache, its scratch buffers, and two ways in.
//  - Eval: one sequence (slot = position, no block table), tokens appended at n_past(): a whole
//    prompt at once or one token at a time; returns logits.
//  - Step: a batch of (sequence, position, token) entries of several sequences, each sequence
//    with its block table into the paged KV cache (kv_cache.h); the matmuls run over all entries
//    at once, attention per entry over its own sequence's cache; logits only where asked.
// The two share the cache: a caller uses one or the other (the scheduler owns Step).
// A row's result does not depend on the other rows of its batch: the matmul kernels compute
// every (row, token) output with the same arithmetic whatever the tile (docs/scheduler.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "comm/group.h"
#include "comm/timed_group.h"
#include "model/model.h"
#include "runtime/kv_cache.h"
#include "runtime/step_times.h"

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

// One entry of a Step: evaluate `token` at position `pos` of sequence `seq` (an index into
// StepBatch::tables); with `logits`, its logits row is returned.
struct StepEntry {
  int32_t seq = 0;
  int32_t pos = 0;
  int32_t token = 0;
  int32_t logits = 0;  // 0 or 1
};

struct StepBatch {
  std::vector<StepEntry> entries;
  // Per sequence of the batch: its block ids, covering at least positions [0, its last entry].
  // Entries of one sequence come in increasing positions; positions before an entry's own are
  // read from the cache (earlier steps, or earlier entries of this batch).
  std::vector<std::vector<int32_t>> tables;
};

class Session {
 public:
  static constexpr int32_t kMaxBatchTokens = 256;  // rows per forward pass; more are split

  // n_ctx <= 0: the model's training context length (the longest sequence).
  // kv_blocks: KV cache blocks of kBlockTokens for Step (0: n_ctx slots, one sequence's worth).
  // The KV cache is allocated here: callers that cannot trust n_ctx use Create.
  Session(const model::Model& m, ThreadPool& pool, int32_t n_ctx, const Parallelism& par = {},
          int32_t kv_blocks = 0);
  // Like the constructor, but returns ResourceExhausted when the KV cache and scratch buffers
  // would not fit in the machine's available memory, InvalidArgument for n_ctx < 0 or a shard
  // without its group.
  static StatusOr<std::unique_ptr<Session>> Create(const model::Model& m, ThreadPool& pool,
                                                   int32_t n_ctx, const Parallelism& par = {},
                                                   int32_t kv_blocks = 0);
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
  // Evaluates a batch; returns the logits of the entries with `logits` set, in entry order
  // (n_vocab floats each; rank 0; others an empty span). Valid until the next Eval/Step.
  // Pooled, every rank calls Step with the same batch. Errors (nothing evaluated): see CheckStep.
  StatusOr<std::span<const float>> Step(const StepBatch& batch);
  // InvalidArgument for an empty batch, a sequence index, position, token or block id out of
  // range, a table too short for its entries, positions of a sequence not increasing.
  Status CheckStep(const StepBatch& batch) const;
  int32_t kv_blocks() const { return kv_.n_blocks(); }
  void Reset() { n_past_ = 0; }
  // Drops the positions from n_past on (n_past <= n_past()): the next Eval continues there. The
  // cached keys and values before it are kept (benchmarks measure after a filled context).
  Status Rewind(int32_t n_past);
  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return n_ctx_; }
  const model::Model& model() const { return model_; }
  size_t kv_cache_bytes() const { return kv_.bytes(); }
  const ExchangeStats& exchange_stats() const { return exchange_; }
  void ResetExchangeStats() { exchange_ = {}; }
  // Rank 0 (or alone): every rank's compute time per step (runtime/step_times.h).
  const StepTimes& step_times() const { return step_times_; }

 private:
  struct Scratch;
  // n_tok <= kMaxBatch tokens: token t at position pos[t] of the sequence whose block table is
  // tables[t] (nullptr: slot = position). The logits of the n_out tokens out[] (rank 0: into
  // `logits`, n_out rows; others pass nullptr).
  struct Rows {
    const int32_t* tokens;
    const int32_t* pos;
    const int32_t* const* tables;
    int32_t n_tok;
    const int32_t* out;
    int32_t n_out;
  };
  Status EvalBatch(const Rows& b, float* logits);
  Status Reduce(float* data, size_t count);  // sum over this stage's ranks
  // Step time (session_gather.cc): a pass starts; its compute ends (`last`: before the gather
  // that ends the step); the step ends alone (EndStep) or with the gather, where rank 0 records
  // it. `local` holds n_out rows of this rank's vocabulary and room for the trailer after them.
  void BeginPass();
  void EndPass(bool last);
  void EndStep();
  Status GatherLogits(float* local, int64_t n_out, float* logits);
  bool invariant_reduce_ = false;  // Step: sums in rank order whatever the size

  const model::Model& model_;
  ThreadPool& pool_;
  Parallelism par_;
  comm::Group* stage_ = nullptr;  // par_.stage, or par_.group
  int32_t n_ctx_;
  KvCache kv_;
  int32_t n_past_ = 0;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<MlaAttention> mla_;  // ModelConfig::mla: the attention of every layer
  std::unique_ptr<MoeFfn> moe_;        // n_expert > 0: the FFN of the MoE layers
  std::vector<float> logits_;
  std::vector<float> gathered_;  // rank 0: [rank][n_out][n_vocab_r] before reordering
  ExchangeStats exchange_;
  // Time inside collectives (both timed groups add to it), and the step being measured.
  std::atomic<int64_t> comm_ns_{0};
  std::unique_ptr<comm::TimedGroup> timed_group_, timed_stage_;
  std::chrono::steady_clock::time_point pass_start_;
  int64_t pass_comm0_ns_ = 0;
  int64_t step_compute_ns_ = 0, step_wall_ns_ = 0;
  uint32_t step_passes_ = 0;
  StepTimes step_times_;
};

// KV cache blocks (of kBlockTokens) for max_sequences sequences of up to n_ctx tokens each (the
// upper bound), cut to what budget_bytes holds (the memory the plan leaves for KV on this rank;
// 0: no limit here, Session::Create checks the machine), and never less than one sequence's
// worth (ceil(n_ctx / kBlockTokens)).
int32_t KvBlocksFor(const model::Model& m, int32_t n_ctx, int32_t max_sequences,
                    uint64_t budget_bytes);

}  // namespace shoal::runtime
