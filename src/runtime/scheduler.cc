// The scheduler thread: a waiting queue, a running set and one evaluation step at a time.
// See scheduler.h for the contract and docs/scheduler.md for the policy.
#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "runtime/executor.h"
#include "runtime/logprobs.h"

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

namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

}  // namespace

// One request on its way through the scheduler.
struct Sequence {
  uint64_t id = 0;
  Request req;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt, then the generated tokens
  int32_t n_prompt = 0;
  int32_t n_computed = 0;  // tokens whose KV is in the cache
  int32_t n_generated = 0;
  Clock::time_point submitted, started, first_token, last_token;
  bool have_started = false;
  explicit Sequence(Request r) : req(std::move(r)), sampler(req.params.sampling) {}
};

struct Scheduler::Impl {
  Executor& ex;
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
  uint64_t next_id = 1;                           // guarded by mu

  // Scheduler thread only.
  std::vector<std::unique_ptr<Sequence>> running;
  std::vector<TokenLogprob> top_scratch;
  std::thread thread;

  Impl(Executor& e, std::vector<int32_t> eog_tokens, SchedulerOptions o)
      : ex(e), eog(eog_tokens.begin(), eog_tokens.end()), opt(o) {
    n_ctx = ex.n_ctx();
    n_vocab = ex.n_vocab();
  }

  void Loop();
  void Finish(std::unique_ptr<Sequence>& s, FinishReason r, Status st = Status::Ok());
  // Handles a token sampled for s; false when s is done (Finish was called).
  bool Emit(std::unique_ptr<Sequence>& s, std::span<const float> logits);
  Status Step();
};

void Scheduler::Impl::Finish(std::unique_ptr<Sequence>& s, FinishReason r, Status st) {
  GenerationResult g;
  g.reason = r;
  g.status = std::move(st);
  g.prompt_tokens = s->n_prompt;
  g.cached_tokens = 0;
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
    cancelled.erase(s->id);
  }
  if (s->req.on_done) s->req.on_done(g);
  s.reset();
}

bool Scheduler::Impl::Emit(std::unique_ptr<Sequence>& s, std::span<const float> logits) {
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
  if (p.top_logprobs >= 0) {
    ev.logprob = LogSoftmaxAt(logits, t, p.top_logprobs, &ev.top);
  }
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
  // The new token needs a place in the cache to be evaluated.
  if (int32_t(s->tokens.size()) > n_ctx) {
    Finish(s, FinishReason::kContext);
    return false;
  }
  return true;
}

// One evaluation: the running sequence's next prompt chunk, or its last sampled token.
Status Scheduler::Impl::Step() {
  std::unique_ptr<Sequence>& s = running.front();
  const int32_t n = int32_t(s->tokens.size());
  const int32_t chunk = std::min(n - s->n_computed, std::max(1, opt.max_batch_tokens));
  const bool last = s->n_computed + chunk == n;
  if (!s->have_started) {
    s->have_started = true;
    s->started = Clock::now();
  }
  const auto t0 = Clock::now();
  auto logits = ex.Eval(std::span<const int32_t>(s->tokens.data() + s->n_computed, size_t(chunk)));
  if (!logits.ok()) return logits.status();
  s->n_computed += chunk;
  {
    std::lock_guard<std::mutex> l(mu);
    ++stats.steps_total;
    stats.last_batch_sequences = 1;
    stats.last_batch_tokens = chunk;
    stats.last_step_ms = MsSince(t0, Clock::now());
  }
  if (last && Emit(s, *logits)) return Status::Ok();
  if (s == nullptr) running.erase(running.begin());
  return Status::Ok();
}

void Scheduler::Impl::Loop() {
  for (;;) {
    std::vector<uint64_t> to_cancel;
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] {
        return stopping || !waiting.empty() || !running.empty() || !cancelled.empty();
      });
      if (stopping) break;
      // Cancelled while waiting: end them here (on this thread, as every callback).
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (cancelled.count((*it)->id) > 0) {
          running.push_back(std::move(*it));  // finished below, outside the lock
          to_cancel.push_back(running.back()->id);
          it = waiting.erase(it);
          --stats.requests_queued;
        } else {
          ++it;
        }
      }
      for (const auto& s : running) {
        if (cancelled.count(s->id) > 0 &&
            std::find(to_cancel.begin(), to_cancel.end(), s->id) == to_cancel.end()) {
          to_cancel.push_back(s->id);
        }
      }
      cancelled.clear();
      if (running.empty() && !waiting.empty()) {
        running.push_back(std::move(waiting.front()));
        waiting.pop_front();
        ++stats.requests_running;
        --stats.requests_queued;
        stats.prompt_tokens_total += running.back()->n_prompt;
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      if (std::find(to_cancel.begin(), to_cancel.end(), (*it)->id) != to_cancel.end()) {
        Finish(*it, FinishReason::kCancelled);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    if (running.empty()) continue;
    if (running.front()->n_computed == 0) {
      const Status st = ex.Reset();
      if (!st.ok()) {
        std::lock_guard<std::mutex> l(mu);
        failed = st;
        stopping = true;
        break;
      }
    }
    const Status st = Step();
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
  for (auto& s : rest) Finish(s, r, why);
  std::lock_guard<std::mutex> l(mu);
  stats.requests_running = 0;
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
