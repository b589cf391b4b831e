#include "bench_serve.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "bench_util.h"
#include "cli_common.h"
#include "cluster_flags.h"
#include "runtime/scheduler.h"
#include "server/server.h"

namespace shoal::cli {
namespace {

struct StreamTiming {
  bool ok = false;
  double start_ms = 0, first_ms = 0, end_ms = 0;
  int tokens = 0;
  std::vector<double> token_ms;  // when each token arrived (in a chunk with others, at its time)
};

// Tokens in a completion chunk: its logprobs' tokens (a chunk holds several where text was held
// back, as an incomplete UTF-8 character is), else 1.
size_t ChunkTokens(const nlohmann::json& choice) {
  const auto lp = choice.find("logprobs");
  if (lp != choice.end() && lp->is_object()) {
    const auto toks = lp->find("tokens");
    if (toks != lp->end() && toks->is_array()) return toks->size();
  }
  return 1;
}

// One streaming completion: times of the request, the first token, the end; tokens from usage.
StreamTiming OneStream(int port, const std::string& prompt, int n_decode) {
  StreamTiming t;
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(600, 0);
  nlohmann::json body = {{"prompt", prompt},
                         {"max_tokens", n_decode},
                         {"temperature", 0},
                         {"ignore_eos", true},
                         // A chunk per token even where a token has no text of its own (the
                         // generated models' reserved tokens): its logprob.
                         {"logprobs", 0},
                         {"stream", true},
                         {"stream_options", {{"include_usage", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string buf;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    size_t end;
    while ((end = buf.find("\n\n")) != std::string::npos) {
      const std::string ev = buf.substr(0, end);
      buf.erase(0, end + 2);
      if (std::getenv("SHOAL_BENCH_DEBUG")) {
        std::fprintf(stderr, "%.1f %s\n", NowMs() - t.start_ms, ev.substr(0, 160).c_str());
      }
      if (ev.rfind("data: {", 0) != 0) continue;
      const nlohmann::json j = nlohmann::json::parse(ev.substr(6), nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("choices") && !j["choices"].empty() &&
          j["choices"][0]["finish_reason"].is_null()) {
        const double now = NowMs();
        if (t.first_ms == 0) t.first_ms = now;
        t.token_ms.insert(t.token_ms.end(), ChunkTokens(j["choices"][0]), now);
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        t.tokens = j["usage"].value("completion_tokens", 0);
      }
    }
    return true;
  };
  t.start_ms = NowMs();
  httplib::Response res;
  httplib::Error err;
  t.ok = cli.send(req, res, err) && res.status == 200 && t.tokens > 0;
  t.end_ms = NowMs();
  if (t.first_ms == 0) t.first_ms = t.end_ms;
  return t;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * double(v.size() - 1);
  const size_t i = size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

// Prompts of a similar length (about 24 tokens), distinct so no two streams share a prefix
// beyond the first word.
std::string Prompt(int round, int i) {
  return std::to_string(round * 100 + i) +
         " The quick brown fox jumps over the lazy dog near the "
         "river bank while the morning sun rises slowly.";
}

}  // namespace

StatusOr<nlohmann::json> BenchServe(const ServeBenchOptions& o, bool quiet) {
  nlohmann::json results = nlohmann::json::array();
  const int max_streams = *std::max_element(o.streams.begin(), o.streams.end());
  for (const auto& [transport, nodes] : o.layouts) {
    ClusterOptions pool;
    pool.local = nodes - 1;
    pool.transport = transport.empty() ? "tcp" : transport;
    SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                           OpenEngine(o.model_path, o.n_threads, 2048, pool));
    std::vector<int32_t> eog;
    for (int32_t id = 0; id < e->tokenizer().n_vocab(); ++id) {
      if (e->tokenizer().IsEog(id)) eog.push_back(id);
    }
    // Per stream count, one figure per round; each round first measures the engine alone (one
    // stream, what `shoal run` does), then the server at every stream count, so the ratios
    // between them are taken minutes apart at most, under the same load.
    std::vector<double> alone;
    std::vector<std::vector<double>> agg(o.streams.size()), steady(o.streams.size()),
        output(o.streams.size()), ttft(o.streams.size());
    std::vector<int> failed(o.streams.size(), 0);
    for (int rep = 0; rep < o.reps; ++rep) {
      SHOAL_ASSIGN_OR_RETURN(BenchResult a, MeasureEngine(*e, 64, o.n_decode, 1));
      alone.push_back(a.tg_tok_s_median);
      runtime::SchedulerOptions so;
      so.max_sequences = max_streams;
      so.max_queue = 4 * max_streams;
      SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Scheduler> sched,
                             runtime::Scheduler::Create(*e->executor, eog, so));
      server::ServerOptions http;
      http.port = 0;
      http.http_threads = 2 * max_streams + 8;
      server::Backend b;
      b.scheduler = sched.get();
      b.tokenizer = &e->tokenizer();
      b.model_id = "bench";
      b.n_nodes = e->n_nodes();
      SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<server::HttpServer> srv,
                             server::HttpServer::Create(http, b));
      std::thread serve([&] { (void)srv->Run(); });
      const int port = srv->port();
      OneStream(port, Prompt(99, 0), 4);  // warm-up: connections, pages
      for (size_t k = 0; k < o.streams.size(); ++k) {
        const int n = o.streams[k];
        if (!quiet) {
          std::fprintf(
              stderr, "shoal bench --serve: %d node(s) x %d thread(s), %d stream(s), round %d...\n",
              nodes, o.n_threads, n, rep + 1);
        }
        std::vector<StreamTiming> t(static_cast<size_t>(n));
        std::vector<std::thread> th;
        for (int i = 0; i < n; ++i) {
          th.emplace_back([&, i] { t[size_t(i)] = OneStream(port, Prompt(rep, i), o.n_decode); });
        }
        for (auto& x : th) x.join();
        double first = 1e300, last = 0, sent = 1e300;
        double steady_from = 0, steady_to = 1e300;  // every stream decoding
        int64_t decoded = 0, generated = 0;
        for (const StreamTiming& s : t) {
          if (!s.ok) ++failed[k];
          ttft[k].push_back(s.first_ms - s.start_ms);
          first = std::min(first, s.first_ms);
          last = std::max(last, s.end_ms);
          sent = std::min(sent, s.start_ms);
          decoded += std::max(0, s.tokens - 1);
          generated += s.tokens;
          steady_from = std::max(steady_from, s.first_ms);
          steady_to = std::min(steady_to, s.token_ms.empty() ? s.end_ms : s.token_ms.back());
        }
        int64_t in_steady = 0;
        for (const StreamTiming& s : t) {  // each stream's tokens after its first
          for (size_t i = 1; i < s.token_ms.size(); ++i) {
            in_steady += s.token_ms[i] >= steady_from && s.token_ms[i] <= steady_to;
          }
        }
        // Tokens after each stream's first, over the time from the first first token to the
        // last end (with the later prompts' prefill where they come after a first token).
        agg[k].push_back(last > first ? double(decoded) / ((last - first) * 1e-3) : 0);
        // The tokens that arrive while every stream decodes, over that window (0 when it has no
        // length: every stream's tokens came in one read).
        steady[k].push_back(
            steady_to > steady_from ? double(in_steady) / ((steady_to - steady_from) * 1e-3) : 0);
        // Every token over the whole run, requests to the last end.
        output[k].push_back(last > sent ? double(generated) / ((last - sent) * 1e-3) : 0);
      }
      srv->Stop();
      serve.join();
      sched->Stop();
    }
    // Ratios round by round (same load), then their median.
    auto ratios = [&](const std::vector<double>& num, const std::vector<double>& den) {
      std::vector<double> r;
      for (size_t i = 0; i < num.size() && i < den.size(); ++i) {
        r.push_back(den[i] > 0 ? num[i] / den[i] : 0);
      }
      return r;
    };
    const auto one = std::find(o.streams.begin(), o.streams.end(), 1);
    for (size_t k = 0; k < o.streams.size(); ++k) {
      nlohmann::json r = {{"nodes", nodes},
                          {"n_threads", o.n_threads},
                          {"streams", o.streams[k]},
                          {"n_decode", o.n_decode},
                          {"steady_decode_tok_s", Median(steady[k])},
                          {"steady_decode_tok_s_runs", steady[k]},
                          {"aggregate_decode_tok_s", Median(agg[k])},
                          {"aggregate_decode_tok_s_runs", agg[k]},
                          {"output_tok_s", Median(output[k])},
                          {"output_tok_s_runs", output[k]},
                          {"ttft_ms_p50", Percentile(ttft[k], 0.5)},
                          {"ttft_ms_p99", Percentile(ttft[k], 0.99)},
                          {"engine_alone_tg_tok_s", Median(alone)},
                          {"engine_alone_tg_tok_s_runs", alone},
                          {"failed_streams", failed[k]}};
      const std::vector<double> vs_alone = ratios(agg[k], alone);
      r["x_engine_alone"] = Median(vs_alone);
      r["x_engine_alone_runs"] = vs_alone;
      if (one != o.streams.end()) {
        const std::vector<double> vs_one = ratios(agg[k], agg[size_t(one - o.streams.begin())]);
        r["x_one_stream"] = Median(vs_one);
        r["x_one_stream_runs"] = vs_one;
        const std::vector<double> steady_vs_one =
            ratios(steady[k], steady[size_t(one - o.streams.begin())]);
        r["x_one_stream_steady"] = Median(steady_vs_one);
        r["x_one_stream_steady_runs"] = steady_vs_one;
      }
      if (!transport.empty()) r["transport"] = transport;
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace shoal::cli
