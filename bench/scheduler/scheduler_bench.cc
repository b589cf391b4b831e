// shoal_scheduler_bench [--model FILE] [--streams 1,4,8,16] [--threads T] [--prompt N]
//                       [--decode N] [--reps R]
// Continuous batching through runtime::Scheduler on one node: for each stream count S, S
// requests (distinct prompts of --prompt tokens, greedy, --decode tokens each) are submitted at
// once; reported per S (medians over --reps runs):
//   decode_tok_s  aggregate decode rate while every stream is decoding: the tokens emitted
//                 between the moment the last stream got its first token and the moment the
//                 first stream finished, over that window (all tokens / all time when S = 1)
//   ttft_p50_ms / ttft_p99_ms  submit to first token, over the S requests of every run
// and, as the baseline, `shoal run`'s loop (Session::Eval one token at a time) on the same
// session. Default model: the generated 1B q4_0 llama that `shoal bench` keeps in its cache.
// Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/executor.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"

namespace shoal {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  return v[i];
}

std::vector<int32_t> Prompt(int n, int salt, int32_t n_vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(int32_t((i * 7919 + salt * 104729 + 1) % n_vocab));
  return t;
}

struct RunResult {
  double decode_tok_s = 0;
  std::vector<double> ttft_ms;
};

RunResult RunStreams(runtime::Scheduler& sched, int streams, int n_prompt, int n_decode,
                     int32_t n_vocab, int round) {
  std::mutex mu;
  std::vector<std::vector<Clock::time_point>> times(static_cast<size_t>(streams));
  std::vector<std::promise<runtime::GenerationResult>> done(static_cast<size_t>(streams));
  for (int i = 0; i < streams; ++i) {
    runtime::Request r;
    r.prompt = Prompt(n_prompt, round * 1000 + i, n_vocab);
    r.params.sampling.temperature = 0;
    r.params.max_tokens = n_decode;
    r.params.ignore_eos = true;
    r.on_token = [&, i](const runtime::TokenEvent&) {
      std::lock_guard<std::mutex> l(mu);
      times[size_t(i)].push_back(Clock::now());
      return runtime::Next::kContinue;
    };
    r.on_done = [&, i](const runtime::GenerationResult& g) { done[size_t(i)].set_value(g); };
    auto id = sched.Submit(std::move(r));
    if (!id.ok()) {
      std::fprintf(stderr, "submit: %s\n", id.status().ToString().c_str());
      std::exit(1);
    }
  }
  RunResult out;
  for (auto& d : done) out.ttft_ms.push_back(d.get_future().get().time_to_first_token_ms);
  Clock::time_point start = times[0].front(), end = times[0].back();
  for (const auto& t : times) {
    start = std::max(start, t.front());
    end = std::min(end, t.back());
  }
  int64_t tokens = 0;
  for (const auto& t : times) {
    for (const auto& x : t) tokens += x > start && x <= end;
  }
  const double s = std::chrono::duration<double>(end - start).count();
  out.decode_tok_s = s > 0 ? double(tokens) / s : 0;
  return out;
}

// `shoal run`'s decode loop: one Eval per token after the prompt; tokens/s over the decode.
double RunLoop(runtime::Session& s, int n_prompt, int n_decode, int32_t n_vocab) {
  s.Reset();
  auto l = s.Eval(Prompt(n_prompt, 999, n_vocab));
  if (!l.ok()) return 0;
  const auto t0 = Clock::now();
  for (int i = 1; i < n_decode; ++i) {
    const int32_t t = int32_t(std::max_element(l->begin(), l->end()) - l->begin());
    l = s.Eval(std::span<const int32_t>(&t, 1));
    if (!l.ok()) return 0;
  }
  return double(n_decode - 1) / std::chrono::duration<double>(Clock::now() - t0).count();
}

int Main(int argc, char** argv) {
  std::string model;
  if (const char* c = std::getenv("SHOAL_CACHE"); c && *c) {
    model = std::string(c) + "/bench-llama-1b-q4_0-seed1-v1.gguf";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    model = std::string(h) + "/.cache/shoal/bench-llama-1b-q4_0-seed1-v1.gguf";
  }
  std::string streams_arg = "1,4,8,16";
  int threads = 0, n_prompt = 64, n_decode = 64, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") {
      model = v;
    } else if (k == "--streams") {
      streams_arg = v;
    } else if (k == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (k == "--prompt") {
      n_prompt = std::atoi(v.c_str());
    } else if (k == "--decode") {
      n_decode = std::atoi(v.c_str());
    } else if (k == "--reps") {
      reps = std::atoi(v.c_str());
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::vector<int> streams;
  std::stringstream ss(streams_arg);
  for (std::string item; std::getline(ss, item, ',');) {
    const int s = std::atoi(item.c_str());
    if (s < 1 || s > 256) {
      std::fprintf(stderr, "bad stream count '%s'\n", item.c_str());
      return 2;
    }
    streams.push_back(s);
  }
  if (n_prompt < 1 || n_decode < 2 || reps < 1 || streams.empty()) {
    std::fprintf(stderr, "need --prompt >= 1, --decode >= 2, --reps >= 1\n");
    return 2;
  }
  auto m = model::Model::Load(model, {});
  if (!m.ok()) {
    std::fprintf(stderr, "%s (run `shoal bench --types q4_0` once to generate the model)\n",
                 m.status().ToString().c_str());
    return 1;
  }
  const int max_streams = *std::max_element(streams.begin(), streams.end());
  const int32_t n_ctx = n_prompt + n_decode + 16;
  ThreadPool pool(threads);
  auto session = runtime::Session::Create(**m, pool, n_ctx, {},
                                          runtime::KvBlocksFor(**m, n_ctx, max_streams, 0));
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  const int32_t n_vocab = (*m)->config().n_vocab;
  runtime::Executor ex(**session, nullptr);
  nlohmann::json out;
  out["model"] = model;
  out["threads"] = pool.size();
  out["prompt_tokens"] = n_prompt;
  out["decode_tokens"] = n_decode;
  out["reps"] = reps;
  std::vector<double> base;
  for (int r = 0; r < reps; ++r) base.push_back(RunLoop(**session, n_prompt, n_decode, n_vocab));
  out["run_loop_decode_tok_s"] = Median(base);
  runtime::SchedulerOptions so;
  so.max_sequences = max_streams;
  so.prefix_cache = false;  // distinct prompts anyway; measure the evaluation, not the cache
  auto sched = runtime::Scheduler::Create(ex, {}, so);
  if (!sched.ok()) return 1;
  nlohmann::json rows = nlohmann::json::array();
  double one = 0;
  int round = 0;
  for (int s : streams) {
    std::vector<double> tps, ttft;
    for (int r = 0; r < reps; ++r) {
      RunResult rr = RunStreams(**sched, s, n_prompt, n_decode, n_vocab, ++round);
      tps.push_back(rr.decode_tok_s);
      ttft.insert(ttft.end(), rr.ttft_ms.begin(), rr.ttft_ms.end());
    }
    const double agg = Median(tps);
    if (s == 1) one = agg;
    rows.push_back({{"streams", s},
                    {"decode_tok_s", agg},
                    {"decode_tok_s_runs", tps},
                    {"ttft_p50_ms", Percentile(ttft, 0.5)},
                    {"ttft_p99_ms", Percentile(ttft, 0.99)},
                    {"vs_1_stream", one > 0 ? agg / one : 0}});
  }
  (*sched)->Stop();
  out["streams"] = rows;
  if (one > 0 && Median(base) > 0) out["1_stream_vs_run_loop"] = one / Median(base);
  std::printf("%s\n", out.dump(1).c_str());
  return 0;
}

}  // namespace
}  // namespace shoal

int main(int argc, char** argv) { return shoal::Main(argc, argv); }
