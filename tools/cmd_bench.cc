// shoal bench [--json] [--model FILE] [--threads 1,2] [--types q4_0,q8_0] [-n N] [--pp N]
// Decode (tg) and prefill (pp) speed, median of several repetitions at each thread count, next
// to this machine's measured memory read bandwidth: decode reads every weight once per token, so
// weight bytes per token * tok/s is the bandwidth decode achieves. Without --model it generates
// the 1B llama-shaped model of each type into a cache dir ($SHOAL_CACHE, else ~/.cache/shoal).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "base/progress.h"
#include "bench/comm/collective_bench_lib.h"
#include "bench_serve.h"
#include "bench_util.h"
#include "cli_common.h"
#include "cluster_flags.h"
#include "comm/channel.h"
#include "format/gguf.h"
#include "gen_model.h"
#include "kernels/amx.h"
#include "membw.h"
#include "model/config.h"
#include "model/generate.h"
#include "parallel/plan.h"
#include "runtime/attention.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model, threads, types = "q4_0,q8_0", cache, pool, preset = "1b";
  std::string experts = "experts";     // pooled MoE runs: expert splits to measure
  std::string link_security = "seal";  // tcp pools: link securities to measure
  bool comm = false;
  bool serve = false;
  std::string streams = "1,4,8,16";
  std::string depths = "0";         // --depth: context already in the cache before each run
  std::string attention = "tiled";  // --attention: tiled, naive (runtime/attention.h)
  std::string matmul;               // --matmul: amx, vector (kernels/amx.h); empty: the default
  bool busy_poll = false;
  int n_decode = 32;
  int n_prompt = 64;
  int reps = 5;
  bool json = false;
  size_t membw_mib = 1024;
};

StatusOr<std::vector<int>> ParseInts(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 4096) {
      return InvalidArgument("bad thread count '" + item + "' in --threads");
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) == out.end()) {
      out.push_back(static_cast<int>(v));
    }
  }
  if (out.empty()) return InvalidArgument("--threads is empty");
  return out;
}

// "0,1024,4096": context depths (0 <= d <= 2^20).
StatusOr<std::vector<int>> ParseDepths(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > (1 << 20)) {
      return InvalidArgument("bad depth '" + item + "' in --depth");
    }
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) return InvalidArgument("--depth is empty");
  return out;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string CacheDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* c = std::getenv("SHOAL_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/shoal";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/shoal";
  return "/tmp/shoal-cache";
}

// The generated model of this preset (gen-model's 1b or moe1b) and type, made on first use.
StatusOr<std::string> CachedModel(const std::string& dir, const std::string& preset,
                                  const std::string& type, bool quiet) {
  model::GenSpec spec;
  SHOAL_RETURN_IF_ERROR(ApplyPreset(preset, &spec));
  SHOAL_RETURN_IF_ERROR(ApplyTypeName(type, &spec));
  // The version tag changes whenever the generator's output would.
  const std::string path =
      dir + "/bench-" + (preset == "1b" ? "llama-1b" : preset) + "-" + type + "-seed1-v1.gguf";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create cache dir '" + dir + "': " + ec.message());
  if (!quiet) std::fprintf(stderr, "shoal bench: generating %s (once)...\n", path.c_str());
  const double t0 = NowMs();
  SHOAL_RETURN_IF_ERROR(model::GenerateModel(spec, path));
  if (!quiet) std::fprintf(stderr, "shoal bench: generated in %.1f s\n", (NowMs() - t0) / 1e3);
  return path;
}

// "tcp:2,shm:2" -> {("tcp", 2), ("shm", 2)}: pooled runs of that many nodes on this machine.
StatusOr<std::vector<std::pair<std::string, int>>> ParsePools(const std::string& s) {
  std::vector<std::pair<std::string, int>> out;
  for (const std::string& item : SplitComma(s)) {
    const size_t colon = item.find(':');
    const std::string t = item.substr(0, colon);
    const int n = colon == std::string::npos ? 2 : std::atoi(item.c_str() + colon + 1);
    if ((t != "tcp" && t != "shm") || n < 2 || n > 64) {
      return InvalidArgument("--pool items are tcp:N or shm:N with 2 <= N <= 64, not '" + item +
                             "'");
    }
    out.emplace_back(t, n);
  }
  return out;
}

// The collectives micro-benchmark (forks its ranks: run before any thread pool exists).
Status BenchComm(const Opts& o) {
  comm::bench::Options co;
  nlohmann::json out = comm::bench::RunCollectiveBench(co);
  out["commit"] = BuildCommit();
  std::printf("%s\n", out.dump(o.json ? 2 : 1).c_str());
  return Status::Ok();
}

// --serve: the HTTP server under 1..16 concurrent streams (bench_serve.h), one node and --pool.
Status BenchServeVerb(const Opts& o) {
  ServeBenchOptions so;
  SHOAL_ASSIGN_OR_RETURN(std::vector<int> threads, ParseInts(o.threads.empty() ? "1" : o.threads));
  so.n_threads = threads.front();
  SHOAL_ASSIGN_OR_RETURN(so.streams, ParseInts(o.streams));
  so.n_decode = o.n_decode;
  so.reps = o.reps;
  so.layouts = {{"", 1}};
  SHOAL_ASSIGN_OR_RETURN(const auto pools, ParsePools(o.pool));
  so.layouts.insert(so.layouts.end(), pools.begin(), pools.end());
  std::string label = "model";
  if (!o.model.empty()) {
    so.model_path = o.model;
    label = std::filesystem::path(o.model).filename().string();
  } else {
    label = SplitComma(o.types).empty() ? "q4_0" : SplitComma(o.types).front();
    SHOAL_ASSIGN_OR_RETURN(so.model_path, CachedModel(CacheDir(o.cache), o.preset, label, o.json));
  }
  SHOAL_ASSIGN_OR_RETURN(nlohmann::json results, BenchServe(so, o.json));
  for (auto& r : results) r["model"] = label;
  nlohmann::json out = {{"commit", BuildCommit()},
                        {"bench", "serve"},
                        {"machine", {{"cores", AvailableCores()}}},
                        {"results", results}};
  std::printf("%s\n", out.dump(2).c_str());
  return Status::Ok();
}

Status Bench(const Opts& o) {
  if (o.comm) return BenchComm(o);
  if (o.serve) return BenchServeVerb(o);
  const int n_cores = AvailableCores();
  std::vector<int> threads;
  if (o.threads.empty()) {
    threads = {1};
    if (n_cores > 1) threads.push_back(n_cores);
  } else {
    SHOAL_ASSIGN_OR_RETURN(threads, ParseInts(o.threads));
  }
  if (o.n_decode < 1 || o.n_prompt < 1 || o.reps < 1) {
    return InvalidArgument("-n, --pp and --reps must be >= 1");
  }
  SHOAL_ASSIGN_OR_RETURN(const auto pools, ParsePools(o.pool));
  SHOAL_ASSIGN_OR_RETURN(const std::vector<int> depths, ParseDepths(o.depths));
  const int max_depth = *std::max_element(depths.begin(), depths.end());
  std::vector<std::pair<std::string, runtime::AttentionPath>> paths;
  for (const std::string& a : SplitComma(o.attention)) {
    if (a != "tiled" && a != "naive") {
      return InvalidArgument("--attention takes tiled and naive, not '" + a + "'");
    }
    paths.emplace_back(
        a, a == "tiled" ? runtime::AttentionPath::kTiled : runtime::AttentionPath::kNaive);
  }
  if (paths.empty()) return InvalidArgument("--attention is empty");
  // Matmul paths, side by side: the AMX tiles or the vector tiles (empty: what this process uses).
  std::vector<std::string> matmuls = SplitComma(o.matmul);
  for (const std::string& m : matmuls) {
    if (m != "amx" && m != "vector") {
      return InvalidArgument("--matmul takes amx and vector, not '" + m + "'");
    }
    if (m == "amx" && !kernels::AmxAvailable()) {
      return InvalidArgument("--matmul amx: this CPU or OS has no AMX int8 tiles");
    }
  }
  if (matmuls.empty()) matmuls.push_back(kernels::AmxEnabled() ? "amx" : "vector");
  const bool amx_default = kernels::AmxEnabled();
  std::vector<std::tuple<std::string, runtime::AttentionPath, std::string>> runs;
  for (const auto& [name, path] : paths) {
    for (const std::string& m : matmuls) runs.emplace_back(name, path, m);
  }
  const std::vector<std::string> splits = SplitComma(o.experts);
  for (const std::string& x : splits) SHOAL_RETURN_IF_ERROR(parallel::ParseExpertSplit(x).status());
  if (splits.empty()) return InvalidArgument("--experts is empty");
  const std::vector<std::string> links = SplitComma(o.link_security);
  for (const std::string& l : links) SHOAL_RETURN_IF_ERROR(comm::ParseLinkSecurity(l).status());
  if (links.empty()) return InvalidArgument("--link-security is empty");
  std::vector<std::pair<std::string, std::string>> models;  // (label, path)
  if (!o.model.empty()) {
    models.emplace_back(std::filesystem::path(o.model).filename().string(), o.model);
  } else {
    const std::string dir = CacheDir(o.cache);
    for (const std::string& t : SplitComma(o.types)) {
      model::GenSpec check;  // reject a bad name before generating anything
      SHOAL_RETURN_IF_ERROR(ApplyTypeName(t, &check));
    }
    for (const std::string& t : SplitComma(o.types)) {
      SHOAL_ASSIGN_OR_RETURN(std::string path, CachedModel(dir, o.preset, t, false));
      models.emplace_back(t, path);
    }
  }

  nlohmann::json out;
  out["commit"] = BuildCommit();
  out["machine"] = MachineJson(threads, o.membw_mib << 20, o.json);
  out["config"] = {
      {"n_prompt", o.n_prompt}, {"n_decode", o.n_decode}, {"reps", o.reps}, {"depths", depths}};
  nlohmann::json models_json = nlohmann::json::array();
  nlohmann::json results = nlohmann::json::array();
  for (const auto& [label, path] : models) {
    SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(path));
    SHOAL_ASSIGN_OR_RETURN(const model::ModelConfig config,
                           model::ParseConfig(file->metadata(), file.get()));
    const bool moe = config.n_expert > 0;
    file.reset();
    // (transport, nodes, link security): ("", 1, "") is this process alone.
    std::vector<std::tuple<std::string, int, std::string>> layouts = {{"", 1, ""}};
    for (const auto& [transport, nodes] : pools) {
      for (const std::string& link : transport == "tcp" ? links : std::vector<std::string>{""}) {
        layouts.emplace_back(transport, nodes, link);
      }
    }
    // On a terminal a bar over this model's runs; otherwise the log line of each run (below).
    std::unique_ptr<Progress> bar;
    if (!o.json && isatty(fileno(stderr)) == 1) {
      uint64_t n_runs = 0;
      for (const auto& l : layouts)
        n_runs += (std::get<1>(l) > 1 && moe ? splits.size() : 1) * threads.size();
      bar = std::make_unique<Progress>("shoal bench " + label, n_runs, "runs");
    }
    for (const auto& [transport, nodes, link] : layouts) {
      // Expert splits matter only for pooled mixture-of-experts models.
      const std::vector<std::string> layout_splits =
          nodes > 1 && moe ? splits : std::vector<std::string>{""};
      for (const std::string& split : layout_splits) {
        for (int t : threads) {
          if (!o.json && !bar) {
            std::fprintf(stderr, "shoal bench: %s, %d node(s)%s%s x %d thread(s)...\n",
                         label.c_str(), nodes, transport.empty() ? "" : (" " + transport).c_str(),
                         split.empty() ? "" : (" " + split).c_str(), t);
          }
          // This layout's threads' read bandwidth, probed just before it runs (the host's
          // bandwidth drifts between runs on a shared machine): what its prediction uses.
          const int probe_threads = std::min(nodes * t, n_cores);
          const MemBandwidth now = MeasureReadBandwidth(o.membw_mib << 20, probe_threads, 5);
          const nlohmann::json probe = {
              {"mem_read", {{{"n_threads", probe_threads}, {"read_gb_s", now.read_gb_s}}}}};
          ClusterOptions pool;
          pool.local = nodes - 1;
          pool.transport = transport.empty() ? "tcp" : transport;
          pool.busy_poll = o.busy_poll;
          if (!link.empty()) pool.link_security = link;
          if (!split.empty()) pool.experts = split;
          SHOAL_ASSIGN_OR_RETURN(
              std::unique_ptr<Engine> e,
              OpenEngine(path, t, static_cast<int64_t>(o.n_prompt) + o.n_decode + 16 + max_depth,
                         pool));
          if (nodes == 1 && t == threads.front()) models_json.push_back(ModelJson(label, path, *e));
          // Each depth's context is filled once (by the first path), then every path runs from
          // it, one after the other.
          for (const int depth : depths) {
            for (size_t pi = 0; pi < runs.size(); ++pi) {
              const auto& [path_name, attention_path, matmul] = runs[pi];
              runtime::SetAttentionPath(attention_path);
              kernels::SetAmx(matmul == "amx");
              auto measured =
                  MeasureEngine(*e, o.n_prompt, o.n_decode, o.reps, depth, /*fill=*/pi == 0);
              runtime::SetAttentionPath(runtime::AttentionPath::kTiled);
              kernels::SetAmx(amx_default);
              SHOAL_ASSIGN_OR_RETURN(BenchResult r, std::move(measured));
              const double gb_s = r.tg_tok_s_median * WeightBytesPerToken(*e) / 1e9;
              nlohmann::json where = {{"model", label},         {"n_threads", t},
                                      {"nodes", nodes},         {"n_depth", depth},
                                      {"attention", path_name}, {"matmul", matmul}};
              if (!transport.empty()) where["transport"] = transport;
              if (!link.empty()) where["link_security"] = link;
              if (!split.empty()) where["experts"] = split;
              nlohmann::json pp = where, tg = where;
              pp.update({{"test", "pp" + std::to_string(o.n_prompt)},
                         {"tok_s", r.pp_tok_s_median},
                         {"tok_s_runs", r.pp_tok_s}});
              // Prefill's int8 work against the machine's int8 peak at these threads.
              if (const double peak = Int8PeakGops(out["machine"], std::min(nodes * t, n_cores));
                  peak > 0) {
                const double gops = r.pp_tok_s_median * MatMulOpsPerToken(*e) / 1e9;
                pp["matmul_gops"] = gops;
                pp["prefill_share_of_int8_peak"] = gops / peak;
                // With the AMX tiles on, also against their own peak.
                if (const double amx = Int8PeakGops(out["machine"], std::min(nodes * t, n_cores),
                                                    /*amx=*/true);
                    amx > 0 && matmul == "amx") {
                  pp["prefill_share_of_amx_peak"] = gops / amx;
                }
              }
              tg.update({{"test", "tg" + std::to_string(o.n_decode)},
                         {"tok_s", r.tg_tok_s_median},
                         {"tok_s_runs", r.tg_tok_s},
                         {"ms_per_token", 1e3 / r.tg_tok_s_median},
                         {"achieved_gb_s", gb_s}});
              // The cost model's figures for this layout, beside the measurement.
              // (None when the layout has more threads than the machine has cores: the ranks then
              // take turns on the cores, which the model does not describe.)
              const bool oversubscribed = nodes * t > n_cores;
              if (oversubscribed) tg["oversubscribed"] = pp["oversubscribed"] = true;
              auto predicted =
                  oversubscribed
                      ? StatusOr<nlohmann::json>(Unavailable("oversubscribed"))
                      : PredictLayout(*e, probe, nodes, t, transport, o.n_prompt, o.n_decode);
              tg["read_gb_s_before"] = now.read_gb_s;
              if (predicted.ok()) {
                pp["predicted_tok_s"] = (*predicted)["prefill_tok_s"];
                tg["predicted_tok_s"] = (*predicted)["decode_tok_s"];
                tg["predicted"] = *predicted;
              } else if (!o.json && !oversubscribed) {
                std::fprintf(stderr, "shoal bench: no prediction: %s\n",
                             predicted.status().ToString().c_str());
              }
              const runtime::ExchangeStats& x = r.tg_exchange;
              if (x.count > 0) {
                // The MoE layers' all-reduce of each token's weighted expert sums (rank 0's view:
                // the wait for the slowest rank is included).
                tg["expert_exchange"] = {{"per_token", double(x.count) / double(r.tg_tokens)},
                                         {"bytes", double(x.bytes) / double(x.count)},
                                         {"us", 1e6 * x.seconds / double(x.count)},
                                         {"ms_per_token", 1e3 * x.seconds / double(r.tg_tokens)},
                                         {"local_pair_fraction",
                                          x.pairs ? double(x.local_pairs) / double(x.pairs) : 0.0}};
              }
              results.push_back(pp);
              results.push_back(tg);
            }
          }
          if (bar) bar->Add(1);
        }
      }
    }
  }
  out["models"] = models_json;
  out["results"] = results;
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    PrintTable(out);
  }
  return Status::Ok();
}

}  // namespace

Action RegisterBench(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("bench", "Decode and prefill speed against memory bandwidth");
  sub->add_option("--model", o->model, "GGUF file (default: the generated 1B llama per type)");
  sub->add_option("--threads", o->threads, "thread counts, e.g. 1,2 (default: 1 and all cores)");
  sub->add_option("--types", o->types, "types of the generated models")->capture_default_str();
  sub->add_option("--preset", o->preset,
                  "generated model shape: 1b (llama) or moe1b (deepseek2, 64 experts, 6 used)")
      ->capture_default_str();
  sub->add_option("-n,--n-decode", o->n_decode, "tokens decoded per tg run")->capture_default_str();
  sub->add_option("--pp", o->n_prompt, "prompt tokens per pp run")->capture_default_str();
  sub->add_option("--reps", o->reps, "repetitions (the median is reported)")->capture_default_str();
  sub->add_option("--membw-mib", o->membw_mib, "buffer for the bandwidth test, MiB")
      ->capture_default_str();
  sub->add_option("--cache", o->cache, "where generated models are kept");
  sub->add_option("--pool", o->pool,
                  "also run pooled on this machine: tcp:N,shm:N (N nodes, each with --threads)");
  sub->add_flag("--busy-poll", o->busy_poll, "pooled runs spin while waiting on peers");
  sub->add_option("--link-security", o->link_security,
                  "tcp pools: link securities to measure, e.g. none,auth,seal")
      ->capture_default_str();
  sub->add_option("--experts", o->experts,
                  "pooled MoE runs: expert splits to measure, e.g. experts,columns")
      ->capture_default_str();
  sub->add_flag("--comm", o->comm,
                "only the collectives: all-reduce vs ping-pong over shm and tcp, 2/4/8 ranks");
  sub->add_flag("--serve", o->serve,
                "the HTTP server: aggregate decode tok/s and time to first token at --streams "
                "concurrent streams (first of --types, --threads' first count per node; --pool "
                "adds pooled layouts); always JSON");
  sub->add_option("--depth", o->depths,
                  "context depths: pp and tg measured after this many tokens already in the "
                  "cache (the fill is not timed), e.g. 0,1024,4096")
      ->capture_default_str();
  sub->add_option("--attention", o->attention,
                  "attention paths to measure: tiled (the default), naive (the path before the "
                  "tiled kernel), e.g. tiled,naive")
      ->capture_default_str();
  sub->add_option("--matmul", o->matmul,
                  "matmul paths to measure side by side: amx (Intel AMX int8 tiles, where the CPU "
                  "and OS have them: the default there), vector (the AVX/NEON tiles), e.g. "
                  "amx,vector");
  sub->add_option("--streams", o->streams, "--serve: concurrent streams to measure")
      ->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  return [o] { return Bench(*o); };
}

}  // namespace shoal::cli
