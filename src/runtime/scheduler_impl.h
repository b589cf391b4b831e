// The scheduler's private state, shared by scheduler.cc (the loop, admission, steps) and
// scheduler_reform.cc (re-forming a pooled engine). Not part of the public API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "runtime/block_manager.h"
#include "runtime/executor.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"

namespace shoal::runtime {

using Clock = std::chrono::steady_clock;
inline double MsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// One request on its way through the scheduler.
struct Sequence {
  uint64_t id = 0;
  Request req;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt, then the generated tokens
  int32_t n_prompt = 0;
  int32_t n_computed = 0;  // tokens whose KV is in the cache (positions [0, n_computed))
  int32_t n_generated = 0;
  int32_t cached_tokens = -1;  // prompt tokens found in the prefix cache (first admission)
  std::vector<int32_t> table;  // block table
  std::vector<uint64_t> keys;  // prefix-cache keys of table's first full blocks
  Clock::time_point submitted, started, first_token, last_token;
  bool have_started = false;
  explicit Sequence(Request r) : req(std::move(r)), sampler(req.params.sampling) {}
};

struct Scheduler::Impl {
  Executor* ex;
  std::unordered_set<int32_t> eog;
  SchedulerOptions opt;
  int32_t n_ctx = 0, n_vocab = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Sequence>> waiting;  // guarded by mu
  std::unordered_set<uint64_t> cancelled;         // guarded by mu: ids to end
  bool stopping = false;                          // guarded by mu
  Status failed;                                  // guarded by mu: the engine's error
  SchedulerStats stats;                           // guarded by mu
  bool reform_wanted = false;                     // guarded by mu: RequestReform
  bool down = false;                              // guarded by mu: the engine cannot run
  Clock::time_point down_since;                   // guarded by mu
  uint64_t next_id = 1;                           // guarded by mu

  // Scheduler thread only.
  Status down_why;              // the failure that took the engine down
  Clock::time_point failed_at;  // the failed step (for last_reform_ms / last_resume_ms)
  Clock::time_point last_try;   // the last re-form attempt
  bool resume_pending = false;  // a re-form happened; the next token ends last_resume_ms
  BlockManager blocks;
  std::deque<std::unique_ptr<Sequence>> preempted;  // back to the head of the queue
  std::vector<std::unique_ptr<Sequence>> running;   // admission order: the youngest last
  std::thread thread;

  Impl(Executor& e, std::vector<int32_t> eog_tokens, SchedulerOptions o)
      : ex(&e),
        eog(eog_tokens.begin(), eog_tokens.end()),
        opt(o),
        blocks(e.kv_blocks(), kBlockTokens, o.prefix_cache) {
    n_vocab = ex->n_vocab();
    n_ctx = std::min(ex->n_ctx(), ex->kv_blocks() * kBlockTokens);
    stats.kv_blocks_total = blocks.n_blocks();
    stats.kv_block_tokens = kBlockTokens;
  }

  void Loop();
  void Finish(std::unique_ptr<Sequence>& s, FinishReason r, Status st = Status::Ok());
  // Handles a token sampled for s; false when s is done (Finish was called).
  bool Emit(std::unique_ptr<Sequence>& s, std::span<const float> logits);
  void ReleaseBlocks(Sequence& s);
  void Preempt(size_t i);  // running[i] back to the queue, its blocks released
  void Admit();
  // Gives s blocks for positions [0, end); false when the cache is out of blocks.
  bool Reserve(Sequence& s, int32_t end);
  Status Step();
  void Cancel(const std::unordered_set<uint64_t>& ids);
  // Re-forms the engine (SchedulerOptions::reform); true when it can run.
  bool TryReform(const Status& why);
  // Every sequence back to the queue, KV dropped: the new engine rebuilds it.
  void Restart(Executor* next);
  // The outage lasted past outage_max_ms: every request ends with the error.
  void GiveUp();
};

}  // namespace shoal::runtime
