// Re-forming a pooled engine under the scheduler (SchedulerOptions::reform): every sequence back
// to the queue with its KV dropped, the new executor's cache, the outage bounds.
#include <cstdio>

#include "runtime/scheduler_impl.h"

namespace shoal::runtime {

bool Scheduler::Impl::TryReform(const Status& why) {
  last_try = Clock::now();
  auto r = opt.reform(why);
  if (r.ok() && *r == nullptr) {  // nothing changed
    std::lock_guard<std::mutex> l(mu);
    return !down;
  }
  if (!r.ok()) {
    const Status st = r.status();
    std::lock_guard<std::mutex> l(mu);
    if (!down) {
      down = true;
      down_since = Clock::now();
      down_why = st;
    }
    stats.available = false;
    stats.unavailable_why = st.message();
    return false;
  }
  bool was_down;
  {
    std::lock_guard<std::mutex> l(mu);
    was_down = down;
  }
  Restart(*r);
  const auto now = Clock::now();
  std::lock_guard<std::mutex> l(mu);
  down = false;
  stats.available = true;
  stats.unavailable_why.clear();
  ++stats.reforms_total;
  if (!why.ok() || was_down) {
    ++stats.failures_total;
    stats.last_reform_ms = MsSince(failed_at, now);
  } else {
    stats.last_reform_ms = 0;
  }
  return true;
}

void Scheduler::Impl::Restart(Executor* next) {
  ex = next;
  int64_t replay = 0;
  // Oldest first at the head of the queue, as they were admitted.
  for (auto it = running.rbegin(); it != running.rend(); ++it) {
    Sequence& s = **it;
    replay += int64_t(s.tokens.size()) - 1;
    s.table.clear();
    s.keys.clear();
    s.n_computed = 0;
    preempted.push_front(std::move(*it));
  }
  running.clear();
  for (auto& s : preempted) s->table.clear(), s->keys.clear(), s->n_computed = 0;
  blocks = BlockManager(ex->kv_blocks(), kBlockTokens, opt.prefix_cache);
  resume_pending = replay > 0;
  std::lock_guard<std::mutex> l(mu);
  stats.replayed_tokens_total += replay;
  stats.kv_blocks_total = blocks.n_blocks();
}

void Scheduler::Impl::GiveUp() {
  std::deque<std::unique_ptr<Sequence>> rest;
  Status why;
  {
    std::lock_guard<std::mutex> l(mu);
    rest.swap(waiting);
    stats.requests_queued = 0;
    why = Unavailable("the pool could not run for " + std::to_string(opt.outage_max_ms / 1000) +
                      " s: " + stats.unavailable_why);
  }
  for (auto& s : running) s->table.clear(), Finish(s, FinishReason::kError, why);
  running.clear();
  for (auto& s : preempted) s->table.clear(), Finish(s, FinishReason::kError, why);
  preempted.clear();
  for (auto& s : rest) Finish(s, FinishReason::kError, why);
}

}  // namespace shoal::runtime
