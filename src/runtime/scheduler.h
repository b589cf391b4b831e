// The serving engine's front door: requests (a prompt's token ids and how to generate) go in,
// tokens come out through callbacks. One scheduler thread owns the engine (single node or rank 0
// of a pool, through runtime::Executor) and runs continuous batching: every step evaluates one
// batch mixing the next token of each running sequence with prompt chunks of newly admitted
// ones, so the weights are read once per step for all of them. KV memory is paged; prompts that
// share a prefix with an earlier one reuse its cached blocks. A request's tokens do not depend on
// what else is in the batch.
//
// Threading: Submit, Cancel and stats() may be called from any thread. Callbacks run on the
// scheduler thread: they must be quick (hand the event to the request's own thread) and must not
// call back into the scheduler except Cancel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/sampler.h"
#include "runtime/step_times.h"

namespace shoal::runtime {

struct GenerationParams {
  SamplerParams sampling;            // temperature, top_k/p, min_p, penalties, seed
  int32_t max_tokens = 256;          // tokens to generate at most (>= 1)
  bool ignore_eos = false;           // keep going past end-of-generation tokens
  std::vector<int32_t> stop_tokens;  // extra ids that end generation (not emitted)
  int32_t top_logprobs = -1;         // -1: no logprobs; 0..20: chosen + this many others
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;  // natural log of the probability at temperature 1, before sampling
};

struct TokenEvent {
  int32_t token = 0;
  int32_t index = 0;              // 0 for the first generated token
  float logprob = 0.0f;           // when top_logprobs >= 0
  std::vector<TokenLogprob> top;  // top_logprobs alternatives, most likely first
};

enum class FinishReason : uint8_t {
  kStop,       // end-of-generation token, a stop token, or the callback said stop
  kLength,     // max_tokens reached
  kContext,    // the sequence reached the context length
  kCancelled,  // Cancel, or the callback said cancel (client gone)
  kError,      // the engine failed (status says why); the pool may be unusable
};
const char* FinishReasonName(FinishReason r);  // "stop", "length", "context", "cancelled", "error"

struct GenerationResult {
  FinishReason reason = FinishReason::kStop;
  Status status;  // kError: why
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;      // prompt tokens whose KV came from the prefix cache
  int32_t completion_tokens = 0;  // tokens delivered through on_token
  double queue_ms = 0;            // submit -> first evaluated prompt chunk
  double time_to_first_token_ms = 0;
  double decode_ms = 0;  // first token -> last token
};

// What the callback wants after a token.
enum class Next : uint8_t { kContinue, kStop, kCancel };

struct Request {
  std::vector<int32_t> prompt;  // token ids, BOS and template already applied; not empty
  GenerationParams params;
  // Each generated token, in order. The token is part of the output unless the callback
  // returns kStop for a token it drops itself (stop strings are the caller's business).
  std::function<Next(const TokenEvent&)> on_token;
  // Exactly once per accepted request, after its last on_token.
  std::function<void(const GenerationResult&)> on_done;
};

struct SchedulerStats {
  int64_t requests_total = 0, requests_running = 0, requests_queued = 0;
  int64_t prompt_tokens_total = 0, cached_tokens_total = 0, generated_tokens_total = 0;
  int64_t steps_total = 0;
  int32_t last_batch_sequences = 0, last_batch_tokens = 0;
  double last_step_ms = 0;
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_block_tokens = 0;
  int64_t cancelled_total = 0;
  int64_t preempted_total = 0;  // sequences sent back to the queue for lack of KV blocks
  // A pooled engine that re-forms (SchedulerOptions::reform):
  bool available = true;              // false while the pool cannot run (requests wait)
  std::string unavailable_why;        // then: why
  int64_t reforms_total = 0;          // the engine was re-formed (after a failure or a change)
  int64_t failures_total = 0;         // steps that failed and were recovered from
  int64_t replayed_tokens_total = 0;  // tokens evaluated again to rebuild KV after a re-form
  double last_reform_ms = 0;          // the last re-form: failed step -> engine ready
  double last_resume_ms = 0;          // failed step -> the first token after the re-form
  // Every rank's compute time per step, rank order (runtime/step_times.h; empty before the
  // first step).
  std::vector<NodeStepTime> node_steps;
};

class Executor;

struct SchedulerOptions {
  int32_t max_sequences = 16;      // running at once; more wait in the queue
  int32_t max_queue = 256;         // waiting; beyond it Submit says ResourceExhausted
  int32_t max_batch_tokens = 512;  // tokens per step (decode tokens + prompt chunks)
  bool prefix_cache = true;        // reuse cached KV blocks of shared prompt prefixes
  // A pooled engine that can re-form over the nodes that answer (cluster::Engine::Reform).
  // Called on the scheduler thread after a failed step (with its error) and when RequestReform
  // was called (with Ok). Returns the executor to go on with, its KV cache empty (the scheduler
  // rebuilds every running sequence's KV by evaluating its tokens again, so the tokens that
  // follow are those of an uninterrupted run), or nullptr when nothing changed. An
  // error: the engine cannot run yet; requests wait (new ones are refused with Unavailable once
  // the outage is older than outage_grace_ms) and it is called again on RequestReform or every
  // retry_ms; past outage_max_ms every request ends with the error. Without it a failed step
  // ends every request (kError) and the scheduler stops.
  std::function<StatusOr<Executor*>(const Status&)> reform;
  int32_t retry_ms = 1000;
  int32_t outage_grace_ms = 10000;
  int32_t outage_max_ms = 300000;
};

class Scheduler {
 public:
  // `executor` drives the model (whole, or rank 0 of a pool) and is used by the scheduler thread
  // only from now on, through Executor::Step (its session's KV blocks, Session's kv_blocks, are
  // the scheduler's; size them with KvBlocksFor). `eog_tokens`: the ids that end generation
  // (model::Tokenizer's). The context is the session's, at most its blocks' tokens.
  static StatusOr<std::unique_ptr<Scheduler>> Create(Executor& executor,
                                                     std::vector<int32_t> eog_tokens,
                                                     SchedulerOptions options = {});
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request and returns its id. InvalidArgument: empty prompt, a token id out of range,
  // a prompt that leaves no room in the context; ResourceExhausted: the queue is full;
  // Unavailable: the scheduler stopped (or its engine failed). On error no callback runs.
  StatusOr<uint64_t> Submit(Request request);
  // A queued or running request ends with kCancelled and its KV blocks are released (prefix-cache
  // blocks stay cached). Unknown or finished ids are ignored.
  void Cancel(uint64_t id);
  SchedulerStats stats() const;
  // From any thread: the engine should re-form at the next step boundary (a node joined or is
  // draining, or was lost). No effect without SchedulerOptions::reform.
  void RequestReform();
  int32_t n_ctx() const;
  // Ends every request (kCancelled) and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::runtime
