#include "server/generation.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "model/tokenizer_stream.h"
#include "server/stop_filter.h"

namespace shoal::server {

struct Generation::State {
  State(const model::Tokenizer& tok, std::vector<std::string> stops)
      : decode(tok), stop(std::move(stops)) {}
  // Scheduler thread only.
  model::DecodeStream decode;
  StopFilter stop;
  bool want_logprobs = false;
  // Shared.
  std::mutex mu;
  std::condition_variable cv;
  Chunk pending;  // guarded by mu
  bool have = false;
  std::atomic<bool> cancelled{false};
};

StatusOr<std::shared_ptr<Generation>> Generation::Start(runtime::Scheduler& sched,
                                                        const model::Tokenizer& tok,
                                                        GenerationSpec spec) {
  auto st = std::make_shared<State>(tok, std::move(spec.stop));
  st->want_logprobs = spec.params.top_logprobs >= 0;
  runtime::Request req;
  req.prompt = std::move(spec.prompt);
  req.params = std::move(spec.params);
  // The callbacks hold the state alive until the request is done, whatever the handler does.
  req.on_token = [st](const runtime::TokenEvent& ev) {
    if (st->cancelled.load(std::memory_order_relaxed)) return runtime::Next::kCancel;
    const std::string text = st->stop.Push(st->decode.Push(ev.token));
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->pending.text += text;
      TokenOut t;
      t.token = ev.token;
      if (st->want_logprobs) {
        t.logprob = ev.logprob;
        t.top = ev.top;
      }
      st->pending.tokens.push_back(std::move(t));
      st->have = true;
    }
    st->cv.notify_one();
    return st->stop.stopped() ? runtime::Next::kStop : runtime::Next::kContinue;
  };
  req.on_done = [st](const runtime::GenerationResult& res) {
    std::string tail;
    if (!st->stop.stopped()) {
      tail = st->stop.Push(st->decode.Flush());
      tail += st->stop.Finish();
    }
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->pending.text += tail;
      st->pending.done = true;
      st->pending.result = res;
      st->pending.stop_string = st->stop.matched();
      switch (res.reason) {
        case runtime::FinishReason::kStop:
          st->pending.finish_reason = "stop";
          break;
        case runtime::FinishReason::kLength:
        case runtime::FinishReason::kContext:
          st->pending.finish_reason = st->stop.stopped() ? "stop" : "length";
          break;
        case runtime::FinishReason::kCancelled:
          st->pending.finish_reason = "cancelled";
          break;
        case runtime::FinishReason::kError:
          st->pending.finish_reason = "error";
          break;
      }
      st->have = true;
    }
    st->cv.notify_one();
  };
  std::shared_ptr<Generation> g(new Generation(sched, st));
  SHOAL_ASSIGN_OR_RETURN(g->id_, sched.Submit(std::move(req)));
  return g;
}

Generation::~Generation() {
  bool done;
  {
    std::lock_guard<std::mutex> lock(st_->mu);
    done = st_->pending.done;
  }
  if (!done) Cancel();
}

bool Generation::Wait(Chunk* out, int timeout_ms) {
  std::unique_lock<std::mutex> lock(st_->mu);
  if (!st_->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return st_->have; })) {
    return false;
  }
  *out = std::move(st_->pending);
  const bool done = out->done;
  st_->pending = Chunk{};
  st_->pending.done = done;  // stays done (the destructor reads it)
  st_->have = false;
  if (done) out->done = true;
  return true;
}

void Generation::Cancel() {
  st_->cancelled.store(true, std::memory_order_relaxed);
  sched_.Cancel(id_);
}

}  // namespace shoal::server
