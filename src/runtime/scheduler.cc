// The scheduler thread: a waiting queue, a running set and one evaluation step at a time.
// See scheduler.h for the contract and docs/scheduler.md for the policy.
#include "runtime/scheduler.h"

#include <algorithm>
#include <cstdio>

#include "runtime/logprobs.h"
#include "runtime/scheduler_impl.h"

namespace shoal::runtime {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kContext:
      return "context";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

void Scheduler::Impl::ReleaseBlocks(Sequence& s) {
  for (int32_t b : s.table) blocks.Release(b);
  s.table.clear();
  s.keys.clear();
  s.n_computed = 0;
}

void Scheduler::Impl::Finish(std::unique_ptr<Sequence>& s, FinishReason r, Status st) {
  ReleaseBlocks(*s);
  GenerationResult g;
  g.reason = r;
  g.status = std::move(st);
  g.prompt_tokens = s->n_prompt;
  g.cached_tokens = std::max(0, s->cached_tokens);
  g.completion_tokens = s->n_generated;
  const Clock::time_point now = Clock::now();
  g.queue_ms = MsSince(s->submitted, s->have_started ? s->started : now);
  if (s->n_generated > 0) {
    g.time_to_first_token_ms = MsSince(s->submitted, s->first_token);
    g.decode_ms = MsSince(s->first_token, s->last_token);
  }
  {
    std::lock_guard<std::mutex> l(mu);
    if (r == FinishReason::kCancelled) ++stats.cancelled_total;
    stats.kv_blocks_used = blocks.n_referenced();  // before on_done: the caller may look
  }
  if (s->req.on_done) s->req.on_done(g);
  s.reset();
}

bool Scheduler::Impl::Emit(std::unique_ptr<Sequence>& s, std::span<const float> logits) {
  if (resume_pending) {
    resume_pending = false;
    std::lock_guard<std::mutex> l(mu);
    stats.last_resume_ms = MsSince(failed_at, Clock::now());
  }
  const GenerationParams& p = s->req.params;
  const int32_t t = s->sampler.Sample(logits);
  s->sampler.Accept(t);
  if ((!p.ignore_eos && eog.count(t) > 0) ||
      std::find(p.stop_tokens.begin(), p.stop_tokens.end(), t) != p.stop_tokens.end()) {
    Finish(s, FinishReason::kStop);
    return false;
  }
  TokenEvent ev;
  ev.token = t;
  ev.index = s->n_generated;
  if (p.top_logprobs >= 0) ev.logprob = LogSoftmaxAt(logits, t, p.top_logprobs, &ev.top);
  s->tokens.push_back(t);
  ++s->n_generated;
  s->last_token = Clock::now();
  if (s->n_generated == 1) s->first_token = s->last_token;
  {
    std::lock_guard<std::mutex> l(mu);
    ++stats.generated_tokens_total;
  }
  const Next next = s->req.on_token ? s->req.on_token(ev) : Next::kContinue;
  if (next == Next::kCancel) {
    Finish(s, FinishReason::kCancelled);
    return false;
  }
  if (next == Next::kStop) {
    Finish(s, FinishReason::kStop);
    return false;
  }
  if (s->n_generated >= p.max_tokens) {
    Finish(s, FinishReason::kLength);
    return false;
  }
  // The new token needs a place in the context to be evaluated.
  if (int32_t(s->tokens.size()) > n_ctx) {
    Finish(s, FinishReason::kContext);
    return false;
  }
  return true;
}

void Scheduler::Impl::Preempt(size_t i) {
  std::unique_ptr<Sequence> s = std::move(running[i]);
  running.erase(running.begin() + std::ptrdiff_t(i));
  ReleaseBlocks(*s);  // its full blocks stay cached: the recomputation may find them again
  preempted.push_front(std::move(s));
  std::lock_guard<std::mutex> l(mu);
  ++stats.preempted_total;
}

bool Scheduler::Impl::Reserve(Sequence& s, int32_t end) {
  const size_t need = size_t((end + kBlockTokens - 1) / kBlockTokens);
  while (s.table.size() < need) {
    const int32_t b = blocks.Allocate();
    if (b < 0) return false;
    s.table.push_back(b);
  }
  return true;
}

// Moves sequences from the queue (preempted ones first) to the running set while there is room:
// a free sequence slot, and free blocks for the whole prompt (less its cached prefix) plus one
// for generation, beyond one block of headroom per running sequence.
void Scheduler::Impl::Admit() {
  for (;;) {
    if (int32_t(running.size()) >= opt.max_sequences) return;
    std::unique_ptr<Sequence> s;
    if (!preempted.empty()) {
      s = std::move(preempted.front());
      preempted.pop_front();
    } else {
      std::lock_guard<std::mutex> l(mu);
      if (waiting.empty()) return;
      s = std::move(waiting.front());
      waiting.pop_front();
    }
    const int32_t n = int32_t(s->tokens.size());
    // Cached blocks strictly before the last token's block: the last token is always evaluated
    // (its logits are needed) and never written into a shared block.
    const std::vector<int32_t> hit = blocks.Match(s->tokens, (n - 1) / kBlockTokens, &s->keys);
    const int32_t need = (n + kBlockTokens - 1) / kBlockTokens - int32_t(hit.size()) + 1;
    const bool alone = running.empty();
    if (!alone && blocks.n_available() < need + int32_t(running.size())) {
      for (int32_t b : hit) blocks.Release(b);
      s->keys.clear();
      preempted.push_front(std::move(s));  // stays first in line
      return;
    }
    s->table = hit;
    s->n_computed = int32_t(hit.size()) * kBlockTokens;
    const bool first = s->cached_tokens < 0;
    if (first) s->cached_tokens = s->n_computed;
    {
      std::lock_guard<std::mutex> l(mu);
      if (first) {
        --stats.requests_queued;
        stats.prompt_tokens_total += s->n_prompt;
        stats.cached_tokens_total += s->cached_tokens;
      }
    }
    running.push_back(std::move(s));
  }
}

// One evaluation: the decode token of every sequence that has one (oldest first), then prompt
// chunks within max_batch_tokens. Out of blocks for a decode token, the youngest running
// sequence is preempted (recomputed later; its tokens do not change).
Status Scheduler::Impl::Step() {
  StepBatch batch;
  std::vector<Sequence*> in_batch;  // the sequences of batch.tables, in order
  std::vector<int32_t> chunk_of;    // tokens each contributes
  int32_t budget = opt.max_batch_tokens;
  auto add = [&](Sequence& s, int32_t chunk) {
    const int32_t seq = int32_t(in_batch.size());
    const int32_t n = int32_t(s.tokens.size());
    for (int32_t i = 0; i < chunk; ++i) {
      const int32_t pos = s.n_computed + i;
      batch.entries.push_back({seq, pos, s.tokens[size_t(pos)], pos == n - 1 ? 1 : 0});
    }
    in_batch.push_back(&s);
    chunk_of.push_back(chunk);
    budget -= chunk;
  };
  // Decode tokens first.
  for (size_t i = 0; i < running.size(); ++i) {
    Sequence& s = *running[i];
    if (s.n_computed != int32_t(s.tokens.size()) - 1 || budget <= 0) continue;
    bool ok = Reserve(s, s.n_computed + 1);
    while (!ok) {
      const size_t victim = running.size() - 1;  // the youngest; later in order than i, or i
      Preempt(victim);
      if (victim == i) break;
      ok = Reserve(s, s.n_computed + 1);
    }
    if (!ok) break;  // s itself went back to the queue (it was the youngest)
    add(s, 1);
  }
  // Then prompt chunks, oldest first, within the token budget and the blocks at hand.
  for (size_t i = 0; i < running.size() && budget > 0; ++i) {
    Sequence& s = *running[i];
    const int32_t left = int32_t(s.tokens.size()) - s.n_computed;
    if (left <= 1) continue;  // decoding: done above
    int32_t chunk = std::min(left, budget);
    Reserve(s, s.n_computed + chunk);
    chunk = std::min(chunk, int32_t(s.table.size()) * kBlockTokens - s.n_computed);
    if (chunk > 0) add(s, chunk);
  }
  if (batch.entries.empty()) {
    // Every running sequence is out of blocks: free the youngest's so the others can go on.
    if (running.size() > 1) Preempt(running.size() - 1);
    return Status::Ok();
  }
  for (Sequence* s : in_batch) batch.tables.push_back(s->table);
  const auto t0 = Clock::now();
  for (Sequence* s : in_batch) {
    if (!s->have_started) s->have_started = true, s->started = t0;
  }
  SHOAL_ASSIGN_OR_RETURN(std::span<const float> logits, ex->Step(batch));
  {
    std::lock_guard<std::mutex> l(mu);
    ++stats.steps_total;
    stats.last_batch_sequences = int32_t(in_batch.size());
    stats.last_batch_tokens = int32_t(batch.entries.size());
    stats.last_step_ms = MsSince(t0, Clock::now());
    stats.node_steps = ex->step_times().Summary();
  }
  // Newly full blocks into the prefix cache; sampling where the chunk reached the end.
  size_t row = 0;
  std::unordered_set<Sequence*> done;
  for (size_t k = 0; k < in_batch.size(); ++k) {
    Sequence& s = *in_batch[k];
    s.n_computed += chunk_of[k];
    while (int32_t(s.keys.size() + 1) * kBlockTokens <= s.n_computed) {
      const size_t i = s.keys.size();
      const uint64_t parent = i == 0 ? BlockManager::kRootKey : s.keys.back();
      s.keys.push_back(blocks.Commit(
          s.table[i], parent,
          std::span<const int32_t>(s.tokens.data() + i * kBlockTokens, size_t(kBlockTokens))));
    }
  }
  for (size_t k = 0; k < in_batch.size(); ++k) {
    Sequence* s = in_batch[k];
    if (s->n_computed != int32_t(s->tokens.size())) continue;
    auto it = std::find_if(running.begin(), running.end(),
                           [&](const std::unique_ptr<Sequence>& p) { return p.get() == s; });
    const std::span<const float> row_logits =
        logits.subspan(row * size_t(n_vocab), size_t(n_vocab));
    ++row;
    if (!Emit(*it, row_logits)) running.erase(it);
  }
  return Status::Ok();
}

void Scheduler::Impl::Cancel(const std::unordered_set<uint64_t>& ids) {
  for (auto it = running.begin(); it != running.end();) {
    if (ids.count((*it)->id) > 0) {
      Finish(*it, FinishReason::kCancelled);
      it = running.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = preempted.begin(); it != preempted.end();) {
    if (ids.count((*it)->id) > 0) {
      Finish(*it, FinishReason::kCancelled);
      it = preempted.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::Impl::Loop() {
  for (;;) {
    std::unordered_set<uint64_t> to_cancel;
    std::vector<std::unique_ptr<Sequence>> cancelled_waiting;
    {
      std::unique_lock<std::mutex> l(mu);
      auto ready = [&] {
        return stopping || reform_wanted || !cancelled.empty() ||
               (!down && (!waiting.empty() || !running.empty() || !preempted.empty()));
      };
      if (down) {
        cv.wait_for(l, std::chrono::milliseconds(opt.retry_ms), ready);
      } else {
        cv.wait(l, ready);
      }
      if (stopping) break;
      to_cancel.swap(cancelled);
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (to_cancel.count((*it)->id) > 0) {
          cancelled_waiting.push_back(std::move(*it));
          it = waiting.erase(it);
          --stats.requests_queued;
        } else {
          ++it;
        }
      }
    }
    for (auto& s : cancelled_waiting) Finish(s, FinishReason::kCancelled);
    if (!to_cancel.empty()) Cancel(to_cancel);
    if (opt.reform) {
      bool wanted, is_down;
      Clock::time_point since;
      {
        std::lock_guard<std::mutex> l(mu);
        wanted = reform_wanted;
        reform_wanted = false;
        is_down = down;
        since = down_since;
      }
      if (is_down && (wanted || MsSince(last_try, Clock::now()) >= opt.retry_ms)) {
        is_down = !TryReform(down_why);
      } else if (wanted) {
        failed_at = Clock::now();
        is_down = !TryReform(Status::Ok());
      }
      if (is_down) {
        {
          std::lock_guard<std::mutex> l(mu);
          since = down_since;  // TryReform may have just set it
        }
        if (MsSince(since, Clock::now()) > opt.outage_max_ms) GiveUp();
        continue;
      }
    }
    Admit();
    {
      std::lock_guard<std::mutex> l(mu);
      stats.requests_running = int64_t(running.size());
      stats.kv_blocks_used = blocks.n_referenced();
    }
    if (running.empty()) continue;
    const Status st = Step();
    if (!st.ok() && opt.reform) {
      failed_at = Clock::now();
      std::fprintf(stderr, "shoal: a step failed (%s): re-forming the pool\n",
                   st.ToString().c_str());
      {
        std::lock_guard<std::mutex> l(mu);
        down_why = st;
      }
      if (!TryReform(st)) continue;
      continue;
    }
    if (!st.ok()) {
      {
        std::lock_guard<std::mutex> l(mu);
        failed = st;
        stopping = true;
      }
      for (auto& s : running) Finish(s, FinishReason::kError, st);
      running.clear();
      break;
    }
    std::lock_guard<std::mutex> l(mu);
    stats.requests_running = int64_t(running.size());
    stats.kv_blocks_used = blocks.n_referenced();
  }
  // Stopped: every remaining request ends.
  std::deque<std::unique_ptr<Sequence>> rest;
  Status why;
  {
    std::lock_guard<std::mutex> l(mu);
    rest.swap(waiting);
    why = failed;
    stats.requests_queued = 0;
  }
  const FinishReason r = why.ok() ? FinishReason::kCancelled : FinishReason::kError;
  for (auto& s : running) Finish(s, r, why);
  running.clear();
  for (auto& s : preempted) Finish(s, r, why);
  preempted.clear();
  for (auto& s : rest) Finish(s, r, why);
  std::lock_guard<std::mutex> l(mu);
  stats.requests_running = 0;
  stats.kv_blocks_used = blocks.n_referenced();
}

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(Executor& executor,
                                                       std::vector<int32_t> eog_tokens,
                                                       SchedulerOptions options) {
  if (options.max_sequences < 1 || options.max_queue < 0 || options.max_batch_tokens < 1) {
    return InvalidArgument("scheduler: max_sequences and max_batch_tokens must be >= 1");
  }
  auto impl = std::make_unique<Impl>(executor, std::move(eog_tokens), options);
  Impl* p = impl.get();
  std::unique_ptr<Scheduler> s(new Scheduler(std::move(impl)));
  p->thread = std::thread([p] { p->Loop(); });
  return s;
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scheduler::~Scheduler() { Stop(); }

StatusOr<uint64_t> Scheduler::Submit(Request request) {
  Impl& m = *impl_;
  const GenerationParams& p = request.params;
  if (request.prompt.empty()) return InvalidArgument("the prompt is empty");
  if (int64_t(request.prompt.size()) >= m.n_ctx) {
    return InvalidArgument("the prompt has " + std::to_string(request.prompt.size()) +
                           " tokens, the context only " + std::to_string(m.n_ctx));
  }
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    const int32_t t = request.prompt[i];
    if (t < 0 || t >= m.n_vocab) {
      return InvalidArgument("token id " + std::to_string(t) + " at index " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(m.n_vocab) + ")");
    }
  }
  if (p.max_tokens < 1) return InvalidArgument("max_tokens must be >= 1");
  if (p.top_logprobs > 20) return InvalidArgument("top_logprobs must be <= 20");
  auto s = std::make_unique<Sequence>(std::move(request));
  s->tokens = s->req.prompt;
  s->n_prompt = int32_t(s->tokens.size());
  for (int32_t t : s->tokens) s->sampler.Accept(t);
  s->submitted = Clock::now();
  std::lock_guard<std::mutex> l(m.mu);
  if (m.stopping) {
    return Unavailable(m.failed.ok() ? "the scheduler stopped"
                                     : "the engine failed: " + m.failed.ToString());
  }
  if (m.down && MsSince(m.down_since, Clock::now()) > m.opt.outage_grace_ms) {
    return Unavailable("the pool cannot run the model now (" + m.stats.unavailable_why +
                       "); waiting for nodes");
  }
  if (int64_t(m.waiting.size()) >= m.opt.max_queue) {
    return ResourceExhausted("the queue is full (" + std::to_string(m.opt.max_queue) +
                             " requests waiting)");
  }
  s->id = m.next_id++;
  const uint64_t id = s->id;
  m.waiting.push_back(std::move(s));
  ++m.stats.requests_total;
  ++m.stats.requests_queued;
  m.cv.notify_all();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (id == 0 || id >= impl_->next_id) return;
  impl_->cancelled.insert(id);
  impl_->cv.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->stats;
}

int32_t Scheduler::n_ctx() const { return impl_->n_ctx; }

void Scheduler::RequestReform() {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->reform_wanted = true;
  impl_->cv.notify_all();
}

void Scheduler::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace shoal::runtime
