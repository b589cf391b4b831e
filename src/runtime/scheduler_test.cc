// The scheduler against the generation loop of `shoal run` (Session + Sampler called directly):
// same tokens for the same seed and parameters, logprobs against a double log-softmax, stop rules,
// cancel, a full queue, bad prompts, on_done exactly once.
#include "runtime/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "model/generate.h"
#include "runtime/executor.h"
#include "runtime/session.h"

namespace shoal::runtime {
namespace {

struct Loaded {
  std::vector<uint8_t> image;
  std::unique_ptr<model::Model> model;
};

Loaded Generate(const std::string& arch, DType type) {
  model::GenSpec s;
  s.arch = arch;
  s.n_vocab = 512;
  s.n_embd = 128;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 256;
  s.n_ctx = 128;
  s.type = type;
  s.seed = 5;
  Loaded out;
  gguf::Writer w;
  EXPECT_TRUE(model::GenerateModelWriter(s, &w).ok());
  out.image = w.Serialize();
  auto f = gguf::File::FromMemory(out.image.data(), out.image.size());
  EXPECT_TRUE(f.ok());
  auto m = model::Model::FromFile(std::move(f).value());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (m.ok()) out.model = std::move(m).value();
  return out;
}

std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = (i * 97 + 13 + salt * 31) % 512;
  return t;
}

// What `shoal run` generates (tools/cmd_run.cc's loop): tokens, and each token's logits row.
struct Reference {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;
  FinishReason reason = FinishReason::kLength;
};

Reference RunLoop(const model::Model& m, int32_t n_ctx, const std::vector<int32_t>& prompt,
                  const GenerationParams& p, const std::vector<int32_t>& eog) {
  ThreadPool pool(1);
  Session s(m, pool, n_ctx);
  Sampler sampler(p.sampling);
  for (int32_t t : prompt) sampler.Accept(t);
  Reference r;
  auto logits = s.Eval(prompt);
  EXPECT_TRUE(logits.ok());
  for (;;) {
    const int32_t t = sampler.Sample(*logits);
    sampler.Accept(t);
    const bool stop =
        std::find(p.stop_tokens.begin(), p.stop_tokens.end(), t) != p.stop_tokens.end();
    if ((!p.ignore_eos && std::find(eog.begin(), eog.end(), t) != eog.end()) || stop) {
      r.reason = FinishReason::kStop;
      break;
    }
    r.tokens.push_back(t);
    r.logits.emplace_back(logits->begin(), logits->end());
    if (int32_t(r.tokens.size()) == p.max_tokens) break;
    if (s.n_past() >= s.n_ctx()) {
      r.reason = FinishReason::kContext;
      break;
    }
    const int32_t one[1] = {t};
    logits = s.Eval(std::span<const int32_t>(one, 1));
    EXPECT_TRUE(logits.ok());
  }
  return r;
}

// What a request received.
struct Outcome {
  std::vector<TokenEvent> events;
  GenerationResult result;
  int done_calls = 0;
  std::promise<void> done;
  std::vector<int32_t> tokens() const {
    std::vector<int32_t> t;
    for (const auto& e : events) t.push_back(e.token);
    return t;
  }
};

Request MakeRequest(std::vector<int32_t> prompt, GenerationParams p, Outcome* o) {
  Request r;
  r.prompt = std::move(prompt);
  r.params = std::move(p);
  r.on_token = [o](const TokenEvent& e) {
    o->events.push_back(e);
    return Next::kContinue;
  };
  r.on_done = [o](const GenerationResult& g) {
    o->result = g;
    if (++o->done_calls == 1) o->done.set_value();
  };
  return r;
}

GenerationParams Params(float temp, uint64_t seed, int32_t max_tokens) {
  GenerationParams p;
  p.sampling.temperature = temp;
  p.sampling.seed = seed;
  p.sampling.repeat_penalty = 1.1f;
  p.sampling.presence_penalty = 0.2f;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = Generate("llama", DType::kF32);
    ASSERT_NE(m_.model, nullptr);
  }
  void Open(int32_t n_ctx, SchedulerOptions o = {}, int32_t kv_blocks = 0) {
    pool_ = std::make_unique<ThreadPool>(2);
    if (kv_blocks == 0) kv_blocks = KvBlocksFor(*m_.model, n_ctx, o.max_sequences, 0);
    session_ = std::make_unique<Session>(*m_.model, *pool_, n_ctx, Parallelism{}, kv_blocks);
    ex_ = std::make_unique<Executor>(*session_, nullptr);
    auto s = Scheduler::Create(*ex_, eog_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sched_ = std::move(s).value();
  }
  void TearDown() override {
    if (sched_) sched_->Stop();
  }
  Loaded m_;
  std::vector<int32_t> eog_ = {2};
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<Executor> ex_;
  std::unique_ptr<Scheduler> sched_;
};

TEST_F(SchedulerTest, TokensEqualTheRunLoop) {
  SchedulerOptions o;
  o.max_batch_tokens = 7;  // prompts in several chunks
  Open(128, o);
  const std::vector<GenerationParams> params = {Params(0.0f, 1, 12), Params(0.8f, 42, 16),
                                                Params(1.5f, 7, 9), Params(0.7f, 99, 20)};
  std::vector<std::unique_ptr<Outcome>> outs;
  for (size_t i = 0; i < params.size(); ++i) {
    outs.push_back(std::make_unique<Outcome>());
    auto id =
        sched_->Submit(MakeRequest(Prompt(10 + int(i) * 5, int(i)), params[i], outs[i].get()));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    outs[i]->done.get_future().wait();
    const Reference ref = RunLoop(*m_.model, 128, Prompt(10 + int(i) * 5, int(i)), params[i], eog_);
    EXPECT_EQ(outs[i]->tokens(), ref.tokens) << "request " << i;
    EXPECT_EQ(outs[i]->result.reason, FinishReason::kLength);
    EXPECT_EQ(outs[i]->result.completion_tokens, int32_t(ref.tokens.size()));
    EXPECT_EQ(outs[i]->result.prompt_tokens, 10 + int(i) * 5);
    EXPECT_EQ(outs[i]->done_calls, 1);
  }
  const SchedulerStats st = sched_->stats();
  EXPECT_EQ(st.requests_total, 4);
  EXPECT_EQ(st.generated_tokens_total, 12 + 16 + 9 + 20);
}

TEST_F(SchedulerTest, LogprobsAreTheLogSoftmaxOfTheLogits) {
  Open(128);
  GenerationParams p = Params(0.9f, 3, 6);
  p.top_logprobs = 5;
  Outcome o;
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(9, 1), p, &o)).ok());
  o.done.get_future().wait();
  const Reference ref = RunLoop(*m_.model, 128, Prompt(9, 1), p, eog_);
  ASSERT_EQ(o.tokens(), ref.tokens);
  for (size_t i = 0; i < o.events.size(); ++i) {
    const std::vector<float>& l = ref.logits[i];
    double mx = -INFINITY, sum = 0;
    for (float x : l) mx = std::max(mx, double(x));
    for (float x : l) sum += std::exp(double(x) - mx);
    const double lse = mx + std::log(sum);
    EXPECT_NEAR(o.events[i].logprob, l[size_t(o.events[i].token)] - lse, 1e-5);
    ASSERT_EQ(o.events[i].top.size(), 5u);
    // The alternatives are the 5 largest logits, in order.
    std::vector<float> sorted = l;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(l[size_t(o.events[i].top[k].token)], sorted[k]);
      EXPECT_NEAR(o.events[i].top[k].logprob, sorted[k] - lse, 1e-5);
    }
    EXPECT_LE(o.events[i].logprob, 0.0f);
  }
}

TEST_F(SchedulerTest, StopTokensMaxTokensAndContext) {
  Open(40);
  // A stop token: the reference's third token ends generation there, not emitted.
  GenerationParams p = Params(0.0f, 1, 10);
  const Reference full = RunLoop(*m_.model, 40, Prompt(8, 2), p, eog_);
  ASSERT_GE(full.tokens.size(), 3u);
  GenerationParams ps = p;
  ps.stop_tokens = {full.tokens[2]};
  const Reference stopped = RunLoop(*m_.model, 40, Prompt(8, 2), ps, eog_);
  Outcome a;
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(8, 2), ps, &a)).ok());
  a.done.get_future().wait();
  EXPECT_EQ(a.tokens(), stopped.tokens);
  EXPECT_EQ(a.result.reason, FinishReason::kStop);
  EXPECT_LT(a.tokens().size(), 3u);
  // The context: a 36-token prompt in a 40-token context ends with kContext after 5 tokens.
  Outcome b;
  const Reference ctx = RunLoop(*m_.model, 40, Prompt(36, 3), Params(0.0f, 1, 100), eog_);
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(36, 3), Params(0.0f, 1, 100), &b)).ok());
  b.done.get_future().wait();
  EXPECT_EQ(ctx.reason, FinishReason::kContext);
  EXPECT_EQ(b.result.reason, FinishReason::kContext);
  EXPECT_EQ(b.tokens(), ctx.tokens);
  EXPECT_EQ(b.tokens().size(), 5u);
  // End of generation: with ignore_eos off, the first eog token ends the request.
  GenerationParams pe = Params(0.0f, 1, 10);
  pe.ignore_eos = false;
  std::vector<int32_t> eog_saved = eog_;
  Outcome c;
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(8, 2), pe, &c)).ok());
  c.done.get_future().wait();
  // eog_ = {2}: the tokens stop before the first 2 of the full run.
  std::vector<int32_t> want;
  for (int32_t t : full.tokens) {
    if (t == eog_saved[0]) break;
    want.push_back(t);
  }
  EXPECT_EQ(c.tokens(), want);
}

TEST_F(SchedulerTest, BadPromptsAreRefused) {
  Open(32);
  Outcome o;
  auto r = sched_->Submit(MakeRequest({}, Params(0, 1, 4), &o));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = sched_->Submit(MakeRequest({1, 512, 3}, Params(0, 1, 4), &o));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = sched_->Submit(MakeRequest({1, -1}, Params(0, 1, 4), &o));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = sched_->Submit(MakeRequest(Prompt(32, 0), Params(0, 1, 4), &o));  // no room to generate
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = sched_->Submit(MakeRequest(Prompt(4, 0), Params(0, 1, 0), &o));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(o.done_calls, 0);
  // The scheduler still works.
  Outcome ok;
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(4, 0), Params(0, 1, 3), &ok)).ok());
  ok.done.get_future().wait();
  EXPECT_EQ(ok.tokens().size(), 3u);
}

// A request held inside its callback keeps the scheduler busy, so the queue state is known.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false, entered = false;
  void Wait() {
    std::unique_lock<std::mutex> l(mu);
    entered = true;
    cv.notify_all();
    cv.wait(l, [&] { return open; });
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return entered; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
};

TEST_F(SchedulerTest, QueueFullAndCancel) {
  SchedulerOptions so;
  so.max_sequences = 1;
  so.max_queue = 2;
  Open(128, so);
  Gate gate;
  Outcome a, b, c;
  Request ra = MakeRequest(Prompt(5, 1), Params(0, 1, 50), &a);
  ra.on_token = [&](const TokenEvent& e) {
    a.events.push_back(e);
    if (e.index == 0) gate.Wait();
    return Next::kContinue;
  };
  auto ida = sched_->Submit(std::move(ra));
  ASSERT_TRUE(ida.ok());
  gate.WaitEntered();  // a runs, blocked in its first callback
  auto idb = sched_->Submit(MakeRequest(Prompt(5, 2), Params(0, 1, 5), &b));
  auto idc = sched_->Submit(MakeRequest(Prompt(5, 3), Params(0, 1, 5), &c));
  ASSERT_TRUE(idb.ok() && idc.ok());
  Outcome d;
  auto idd = sched_->Submit(MakeRequest(Prompt(5, 4), Params(0, 1, 5), &d));
  EXPECT_EQ(idd.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(sched_->stats().requests_queued, 2);
  sched_->Cancel(*ida);   // running
  sched_->Cancel(*idb);   // queued
  sched_->Cancel(12345);  // unknown: ignored
  gate.Open();
  a.done.get_future().wait();
  b.done.get_future().wait();
  c.done.get_future().wait();
  EXPECT_EQ(a.result.reason, FinishReason::kCancelled);
  EXPECT_LT(a.events.size(), 50u);
  EXPECT_EQ(b.result.reason, FinishReason::kCancelled);
  EXPECT_TRUE(b.events.empty());
  EXPECT_EQ(c.result.reason, FinishReason::kLength);
  EXPECT_EQ(c.tokens(), RunLoop(*m_.model, 128, Prompt(5, 3), Params(0, 1, 5), eog_).tokens);
  EXPECT_EQ(sched_->stats().cancelled_total, 2);
  EXPECT_EQ(sched_->stats().kv_blocks_used, 0);  // the cancelled request's blocks are free
  EXPECT_EQ(a.done_calls + b.done_calls + c.done_calls, 3);
  sched_->Cancel(*ida);  // finished: ignored
}

TEST_F(SchedulerTest, CallbackCancelAndStopEndEveryRequestOnce) {
  Open(128);
  Outcome a;
  Request ra = MakeRequest(Prompt(6, 1), Params(0.5f, 2, 30), &a);
  ra.on_token = [&](const TokenEvent& e) {
    a.events.push_back(e);
    return e.index == 2 ? Next::kCancel : Next::kContinue;
  };
  ASSERT_TRUE(sched_->Submit(std::move(ra)).ok());
  a.done.get_future().wait();
  EXPECT_EQ(a.result.reason, FinishReason::kCancelled);
  EXPECT_EQ(a.events.size(), 3u);
  Outcome s;
  Request rs = MakeRequest(Prompt(6, 1), Params(0.5f, 2, 30), &s);
  rs.on_token = [&](const TokenEvent& e) {
    s.events.push_back(e);
    return e.index == 1 ? Next::kStop : Next::kContinue;
  };
  ASSERT_TRUE(sched_->Submit(std::move(rs)).ok());
  s.done.get_future().wait();
  EXPECT_EQ(s.result.reason, FinishReason::kStop);
  EXPECT_EQ(s.result.completion_tokens, 2);
  // Stop with work outstanding: everything ends (cancelled or finished), once.
  std::vector<std::unique_ptr<Outcome>> outs;
  for (int i = 0; i < 6; ++i) {
    outs.push_back(std::make_unique<Outcome>());
    ASSERT_TRUE(
        sched_->Submit(MakeRequest(Prompt(6, i), Params(0, 1, 40), outs.back().get())).ok());
  }
  sched_->Stop();
  for (auto& o : outs) EXPECT_EQ(o->done_calls, 1);
  Outcome late;
  EXPECT_EQ(sched_->Submit(MakeRequest(Prompt(6, 1), Params(0, 1, 3), &late)).status().code(),
            StatusCode::kUnavailable);
}

// Greedy output under load (12 requests at once, prompts in chunks mixed with decode tokens)
// equals greedy output alone, and every KV block is released at the end.
TEST_F(SchedulerTest, GreedyUnderLoadEqualsGreedyAlone) {
  SchedulerOptions o;
  o.max_sequences = 8;
  o.max_batch_tokens = 16;
  Open(128, o);
  std::vector<std::unique_ptr<Outcome>> outs;
  for (int i = 0; i < 12; ++i) {
    outs.push_back(std::make_unique<Outcome>());
    GenerationParams p = Params(i % 3 == 0 ? 0.0f : 0.8f, uint64_t(i), 6 + i);
    ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(3 + 5 * i, i), p, outs.back().get())).ok());
  }
  for (int i = 0; i < 12; ++i) {
    outs[size_t(i)]->done.get_future().wait();
    GenerationParams p = Params(i % 3 == 0 ? 0.0f : 0.8f, uint64_t(i), 6 + i);
    EXPECT_EQ(outs[size_t(i)]->tokens(),
              RunLoop(*m_.model, 128, Prompt(3 + 5 * i, i), p, eog_).tokens)
        << "request " << i;
  }
  const SchedulerStats st = sched_->stats();
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_GT(st.steps_total, 0);
  EXPECT_EQ(st.kv_block_tokens, 16);
}

// A prompt that shares a prefix with an earlier request reuses its cached blocks (reported as
// cached tokens) and gets the tokens it gets alone.
TEST_F(SchedulerTest, PrefixReuseChangesNoToken) {
  Open(128);
  const std::vector<int32_t> shared = Prompt(40, 9);
  auto run = [&](std::vector<int32_t> prompt, GenerationParams p) {
    auto o = std::make_unique<Outcome>();
    EXPECT_TRUE(sched_->Submit(MakeRequest(prompt, p, o.get())).ok());
    o->done.get_future().wait();
    EXPECT_EQ(o->tokens(), RunLoop(*m_.model, 128, prompt, p, eog_).tokens);
    return o;
  };
  auto a = run(shared, Params(0.0f, 1, 9));  // 48 tokens evaluated: 3 full blocks
  EXPECT_EQ(a->result.cached_tokens, 0);
  // The same prompt: its two full blocks are cached (the last token is always evaluated).
  auto b = run(shared, Params(0.0f, 1, 9));
  EXPECT_EQ(b->result.cached_tokens, 32);
  // A longer prompt over the first turn and its answer (a chat's next turn): 48 tokens cached.
  std::vector<int32_t> turn = shared;
  for (const TokenEvent& e : a->events) turn.push_back(e.token);
  for (int i = 0; i < 9; ++i) turn.push_back(100 + i);
  auto c = run(turn, Params(0.7f, 5, 10));
  EXPECT_EQ(c->result.cached_tokens, 48);
  // Another prefix: nothing cached.
  auto d = run(Prompt(40, 10), Params(0.0f, 1, 4));
  EXPECT_EQ(d->result.cached_tokens, 0);
  EXPECT_EQ(sched_->stats().cached_tokens_total, 80);
  // Without the prefix cache, nothing is reused.
  sched_->Stop();
  SchedulerOptions off;
  off.prefix_cache = false;
  Open(128, off);
  auto e = run(shared, Params(0.0f, 1, 8));
  auto f = run(shared, Params(0.0f, 1, 8));
  EXPECT_EQ(f->result.cached_tokens, 0);
}

// A cache too small for every running sequence's growth: the youngest is preempted (its blocks
// freed, recomputed later) and every request still gets its tokens alone.
TEST_F(SchedulerTest, PreemptionByRecomputationChangesNoToken) {
  SchedulerOptions o;
  o.max_sequences = 6;
  o.max_batch_tokens = 32;
  Open(64, o, /*kv_blocks=*/9);
  std::vector<std::unique_ptr<Outcome>> outs;
  for (int i = 0; i < 6; ++i) {
    outs.push_back(std::make_unique<Outcome>());
    GenerationParams p = Params(i % 2 == 0 ? 0.0f : 0.9f, uint64_t(10 + i), 30);
    ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(14 + i, 20 + i), p, outs.back().get())).ok());
  }
  for (int i = 0; i < 6; ++i) {
    outs[size_t(i)]->done.get_future().wait();
    GenerationParams p = Params(i % 2 == 0 ? 0.0f : 0.9f, uint64_t(10 + i), 30);
    EXPECT_EQ(outs[size_t(i)]->tokens(),
              RunLoop(*m_.model, 64, Prompt(14 + i, 20 + i), p, eog_).tokens)
        << "request " << i;
    EXPECT_EQ(outs[size_t(i)]->result.reason, FinishReason::kLength);
  }
  const SchedulerStats st = sched_->stats();
  EXPECT_GT(st.preempted_total, 0);
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_EQ(st.kv_blocks_total, 9);
}

// A pooled engine re-forms (SchedulerOptions::reform) several times while requests run, once
// failing first (the pool down for a retry): every sequence is replayed on the new executor and
// every request gets the tokens it gets alone, greedy and seeded alike.
TEST_F(SchedulerTest, ReformReplaysEverySequenceAndChangesNoToken) {
  SchedulerOptions o;
  o.max_sequences = 4;
  o.max_batch_tokens = 32;
  o.retry_ms = 20;
  const int32_t kv_blocks = KvBlocksFor(*m_.model, 128, o.max_sequences, 0);
  std::vector<std::unique_ptr<Session>> sessions;  // each re-form's engine (scheduler thread)
  std::vector<std::unique_ptr<Executor>> executors;
  int calls = 0;
  o.reform = [&](const Status&) -> StatusOr<Executor*> {
    if (++calls == 2) return Unavailable("no worker answers");
    sessions.push_back(std::make_unique<Session>(*m_.model, *pool_, 128, Parallelism{}, kv_blocks));
    executors.push_back(std::make_unique<Executor>(*sessions.back(), nullptr));
    return executors.back().get();
  };
  Open(128, o, kv_blocks);
  std::vector<std::unique_ptr<Outcome>> outs;
  for (int i = 0; i < 4; ++i) {
    outs.push_back(std::make_unique<Outcome>());
    GenerationParams p = Params(i % 2 == 0 ? 0.0f : 0.8f, uint64_t(30 + i), 40);
    ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(9 + 4 * i, i), p, outs.back().get())).ok());
  }
  for (int k = 0; k < 5; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    sched_->RequestReform();
  }
  for (int i = 0; i < 4; ++i) {
    outs[size_t(i)]->done.get_future().wait();
    GenerationParams p = Params(i % 2 == 0 ? 0.0f : 0.8f, uint64_t(30 + i), 40);
    EXPECT_EQ(outs[size_t(i)]->tokens(),
              RunLoop(*m_.model, 128, Prompt(9 + 4 * i, i), p, eog_).tokens)
        << "request " << i;
    EXPECT_EQ(outs[size_t(i)]->result.reason, FinishReason::kLength)
        << outs[size_t(i)]->result.status.ToString();
  }
  const SchedulerStats st = sched_->stats();
  sched_->Stop();  // before the executors it may use go
  EXPECT_GE(calls, 2);
  EXPECT_GE(st.reforms_total, 1);
  EXPECT_GE(st.failures_total, 1);  // the re-form that failed took the pool down once
  EXPECT_TRUE(st.available);
}

// A pool that cannot run: requests wait, new ones are refused past outage_grace_ms with
// Unavailable, and past outage_max_ms the waiting ones end with the error.
TEST_F(SchedulerTest, APoolThatCannotRunRefusesThenEndsRequests) {
  SchedulerOptions o;
  o.retry_ms = 20;
  o.outage_grace_ms = 0;
  o.outage_max_ms = 300;
  o.reform = [](const Status&) -> StatusOr<Executor*> { return Unavailable("no worker answers"); };
  Open(128, o);
  Outcome first;
  ASSERT_TRUE(sched_->Submit(MakeRequest(Prompt(8, 1), Params(0.0f, 1, 200), &first)).ok());
  sched_->RequestReform();
  for (int i = 0; i < 500 && sched_->stats().available; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const SchedulerStats st = sched_->stats();
  EXPECT_FALSE(st.available);
  EXPECT_NE(st.unavailable_why.find("no worker answers"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Outcome second;
  auto refused = sched_->Submit(MakeRequest(Prompt(8, 2), Params(0.0f, 1, 4), &second));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("waiting for nodes"), std::string::npos);
  ASSERT_EQ(first.done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(first.result.reason, FinishReason::kError);
  EXPECT_NE(first.result.status.message().find("could not run"), std::string::npos)
      << first.result.status.ToString();
  EXPECT_EQ(first.done_calls, 1);
}

}  // namespace
}  // namespace shoal::runtime
