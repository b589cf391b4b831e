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

// Tensor parallelism: the group of ranks each holding one shard of the model (Model::shard()),
// and every rank's vocabulary rows (the logits are gathered on rank 0 in this order).
struct TensorParallel {
  comm::Group* group = nullptr;  // nullptr: this model is whole, nothing is exchanged
  std::vector<model::Range> vocab_by_rank;
};

class Session {
 public:
  // n_ctx <= 0: the model's training context length.
  // The KV cache is allocated here: callers that cannot trust n_ctx use Create.
  Session(const model::Model& m, ThreadPool& pool, int32_t n_ctx, const TensorParallel& tp = {});
  // Like the constructor, but returns ResourceExhausted when the KV cache and scratch buffers
  // would not fit in the machine's available memory, InvalidArgument for n_ctx < 0 or a shard
  // without its group.
  static StatusOr<std::unique_ptr<Session>> Create(const model::Model& m, ThreadPool& pool,
                                                   int32_t n_ctx, const TensorParallel& tp = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One pool runs one Eval at a time (ThreadPool::Run is not reentrant): sessions sharing a pool
  // must not Eval concurrently.
  // Appends tokens at the current position; returns the last token's logits (n_vocab floats) or,
  // with all_logits, n_tokens * n_vocab row-major. The span is valid until the next Eval/Reset.
  // Errors (nothing is appended): empty input, context full, token id out of range.
  // Under tensor parallelism every rank calls Eval with the same tokens; rank 0 gets the logits,
  // the others an empty span. A failed collective returns its error (the group is then unusable).
  StatusOr<std::span<const float>> Eval(std::span<const int32_t> tokens, bool all_logits = false);
  void Reset() { n_past_ = 0; }
  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return kv_.n_ctx(); }
  size_t kv_cache_bytes() const { return kv_.bytes(); }

 private:
  struct Scratch;
  // Runs n_tok <= kMaxBatch tokens; with want_logits computes the logits (last token's, or all)
  // into `logits` (rank 0; others pass nullptr).
  Status EvalBatch(const int32_t* tokens, int32_t n_tok, bool all_logits, bool want_logits,
                   float* logits);
  Status Reduce(float* data, size_t count);  // sum over the tensor-parallel group

  const model::Model& model_;
  ThreadPool& pool_;
  TensorParallel tp_;
  KvCache kv_;
  int32_t n_past_ = 0;
  std::unique_ptr<Scratch> scratch_;
  std::vector<float> logits_;
  std::vector<float> gathered_;  // rank 0: [rank][n_out][n_vocab_r] before reordering
};

}  // namespace shoal::runtime
