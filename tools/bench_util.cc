#include "bench_util.h"

#include <algorithm>
#include <cstdio>
#include <span>

#include "base/sysinfo.h"
#include "cli_common.h"
#include "int8peak.h"
#include "kernels/amx.h"
#include "membw.h"
#include "model/arch.h"
#include "parallel/cost.h"
#include "parallel/plan.h"

namespace shoal::cli {
namespace {

int32_t Argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

StatusOr<BenchResult> MeasureEngine(Engine& e, int n_prompt, int n_decode, int reps, int depth,
                                    bool fill) {
  const int32_t n_vocab = e.n_vocab();
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (int i = 0; i < n_prompt; ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % n_vocab);
  if (e.tokenizer().bos() >= 0 && depth == 0) prompt[0] = e.tokenizer().bos();
  const std::span<const int32_t> short_prompt(prompt.data(), std::min<size_t>(4, prompt.size()));

  // The context of --depth, evaluated once; each run starts at its end.
  if (depth > 0 && fill) {
    std::vector<int32_t> context(static_cast<size_t>(depth));
    for (int i = 0; i < depth; ++i) context[i] = static_cast<int32_t>((i * 104729 + 7) % n_vocab);
    if (e.tokenizer().bos() >= 0) context[0] = e.tokenizer().bos();
    SHOAL_RETURN_IF_ERROR(e.Reset());
    SHOAL_RETURN_IF_ERROR(e.Eval(context, false).status());
  }
  auto start = [&]() -> Status { return depth > 0 ? e.executor->Rewind(depth) : e.Reset(); };

  // Warm-up: faults the weights in and lets the thread pool settle.
  SHOAL_RETURN_IF_ERROR(start());
  SHOAL_RETURN_IF_ERROR(e.Eval(prompt, false).status());
  SHOAL_RETURN_IF_ERROR(start());
  SHOAL_ASSIGN_OR_RETURN(std::span<const float> logits, e.Eval(short_prompt, false));
  for (int i = 0; i < 2; ++i) {
    const int32_t one[1] = {Argmax(logits)};
    SHOAL_ASSIGN_OR_RETURN(logits, e.Eval(std::span<const int32_t>(one, 1), false));
  }

  BenchResult r;
  for (int rep = 0; rep < reps; ++rep) {
    SHOAL_RETURN_IF_ERROR(start());
    const double t0 = NowMs();
    SHOAL_RETURN_IF_ERROR(e.Eval(prompt, false).status());
    r.pp_tok_s.push_back(n_prompt / ((NowMs() - t0) * 1e-3));

    SHOAL_RETURN_IF_ERROR(start());
    SHOAL_ASSIGN_OR_RETURN(logits, e.Eval(short_prompt, false));
    e.session->ResetExchangeStats();
    double ms = 0;
    for (int i = 0; i < n_decode; ++i) {
      const int32_t one[1] = {Argmax(logits)};
      const double t1 = NowMs();
      SHOAL_ASSIGN_OR_RETURN(logits, e.Eval(std::span<const int32_t>(one, 1), false));
      ms += NowMs() - t1;
    }
    r.tg_tok_s.push_back(n_decode / (ms * 1e-3));
    const runtime::ExchangeStats& x = e.session->exchange_stats();
    r.tg_exchange.count += x.count;
    r.tg_exchange.bytes += x.bytes;
    r.tg_exchange.seconds += x.seconds;
    r.tg_exchange.pairs += x.pairs;
    r.tg_exchange.local_pairs += x.local_pairs;
    r.tg_tokens += n_decode;
  }
  r.pp_tok_s_median = Median(r.pp_tok_s);
  r.tg_tok_s_median = Median(r.tg_tok_s);
  return r;
}

uint64_t WeightBytesPerToken(const Engine& e) {
  const gguf::File& f = e.model->file();
  const model::ModelConfig& c = e.model->config();
  // Routed experts: a token reads n_expert_used of n_expert (on average, of every rank's share).
  const double expert_fraction =
      c.n_expert > 0 ? double(c.n_expert_used) / double(c.n_expert) : 1.0;
  double bytes = 0;
  model::FindArch(c.arch)->for_each_tensor(c, [&](const model::TensorSpec& spec) {
    const gguf::TensorInfo* t = f.FindTensor(spec.name);
    if (t == nullptr) return;
    switch (spec.role) {
      case model::TensorRole::kTokenEmbd:  // one row, unless it is the output too
        bytes += c.tied_output ? double(t->bytes) : double(t->bytes) / double(c.n_vocab);
        break;
      case model::TensorRole::kFfnGateExps:
      case model::TensorRole::kFfnUpExps:
      case model::TensorRole::kFfnDownExps:
        bytes += double(t->bytes) * expert_fraction;
        break;
      default:
        bytes += double(t->bytes);
    }
  });
  return static_cast<uint64_t>(bytes);
}

double MatMulOpsPerToken(const Engine& e) {
  const gguf::File& f = e.model->file();
  const model::ModelConfig& c = e.model->config();
  const double expert_fraction =
      c.n_expert > 0 ? double(c.n_expert_used) / double(c.n_expert) : 1.0;
  double macs = 0;
  model::FindArch(c.arch)->for_each_tensor(c, [&](const model::TensorSpec& spec) {
    const gguf::TensorInfo* t = f.FindTensor(spec.name);
    if (t == nullptr || t->shape.size() < 2) return;
    switch (spec.role) {
      case model::TensorRole::kTokenEmbd:
      case model::TensorRole::kOutput:
        return;
      case model::TensorRole::kFfnGateExps:
      case model::TensorRole::kFfnUpExps:
      case model::TensorRole::kFfnDownExps:
        macs += double(t->n_elements()) * expert_fraction;
        return;
      default:
        macs += double(t->n_elements());
    }
  });
  return 2.0 * macs;
}

double Int8PeakGops(const nlohmann::json& machine, int n_threads, bool amx) {
  double best = 0;
  int best_threads = 0;
  if (!machine.contains("int8_peak")) return 0;
  for (const auto& p : machine["int8_peak"]) {
    if ((p["path"].get<std::string>() == "amx_int8") != amx) continue;
    const int t = p["n_threads"].get<int>();
    if (t > n_threads || t < best_threads) continue;
    if (t > best_threads) best = 0, best_threads = t;
    best = std::max(best, p["gops"].get<double>());
  }
  return best;
}

nlohmann::json MachineJson(const std::vector<int>& threads, size_t membw_bytes, bool quiet) {
  nlohmann::json m;
  m["cpu"] = CpuName();
  m["n_cores"] = AvailableCores();
  m["memory_bytes"] = TotalMemoryBytes();
  nlohmann::json bw = nlohmann::json::array();
  for (int t : threads) {
    if (!quiet) std::fprintf(stderr, "shoal bench: memory read bandwidth, %d thread(s)...\n", t);
    const MemBandwidth b = MeasureReadBandwidth(membw_bytes, t, 5);
    bw.push_back({{"n_threads", t}, {"read_gb_s", b.read_gb_s}, {"buffer_bytes", b.buffer_bytes}});
  }
  m["mem_read"] = bw;
  if (!quiet) std::fprintf(stderr, "shoal bench: int8 dot-product peak...\n");
  nlohmann::json peaks = nlohmann::json::array();
  std::string best_path;
  double best = 0;
  for (const Int8Peak& p : MeasureInt8Peak(threads)) {
    peaks.push_back({{"path", p.path},
                     {"n_threads", p.n_threads},
                     {"gops", p.gops},
                     {"gops_per_thread", p.gops / p.n_threads}});
    if (p.path == "amx_int8") continue;  // the matrix unit: reported, not the vector peak
    if (p.gops / p.n_threads > best) best = p.gops / p.n_threads, best_path = p.path;
  }
  m["int8_peak"] = peaks;
  m["int8_peak_path"] = best_path;
  m["amx_int8"] = kernels::AmxAvailable();  // the matmuls' AMX tiles can run here
  return m;
}

nlohmann::json ModelJson(const std::string& label, const std::string& path, const Engine& e) {
  const gguf::Metadata& md = e.model->file().metadata();
  return {{"label", label},
          {"path", path},
          {"arch", md.GetStringOr("general.architecture", "?")},
          {"weight_bytes", e.weight_bytes()},
          {"weight_bytes_per_token", WeightBytesPerToken(e)},
          {"n_vocab", e.n_vocab()}};
}

StatusOr<nlohmann::json> PredictLayout(const Engine& e, const nlohmann::json& machine, int nodes,
                                       int threads, const std::string& transport, int n_prompt,
                                       int n_decode) {
  SHOAL_ASSIGN_OR_RETURN(parallel::ModelDesc desc, parallel::DescribeModel(e.model->file()));
  // The read bandwidth this machine gave nodes x threads threads (else the most threads probed),
  // shared by the nodes.
  double bw = 0;
  int bw_threads = 0;
  for (const auto& m : machine["mem_read"]) {
    const int t = m["n_threads"].get<int>();
    if (t <= nodes * threads && t > bw_threads) {
      bw_threads = t;
      bw = m["read_gb_s"].get<double>();
    }
  }
  if (bw <= 0) return Unavailable("no read bandwidth measured for the prediction");
  parallel::Plan plan;
  if (e.job != nullptr) {
    plan = e.job->plan;
  } else {
    parallel::PlanOptions po;
    po.n_ctx = int32_t(e.n_ctx);
    po.reserve_bytes = 0;
    SHOAL_ASSIGN_OR_RETURN(
        plan, parallel::MakePlan(desc, {{"this machine", TotalMemoryBytes(), threads, 0}}, po));
  }
  for (parallel::NodeSpec& n : plan.nodes) {
    n.threads = threads;
    n.bandwidth_gbs = bw / double(nodes);
  }
  SHOAL_ASSIGN_OR_RETURN(parallel::LinkSpec link,
                         parallel::ParseLinkSpec(transport.empty() ? "none" : transport));
  parallel::PredictOptions po;
  po.position = 4 + n_decode / 2;
  po.prefill_tokens = n_prompt;
  SHOAL_ASSIGN_OR_RETURN(parallel::Prediction p,
                         parallel::Predict(plan, desc, link, parallel::Calibration{}, po));
  const parallel::PhaseCost& d = p.decode;
  return nlohmann::json{{"decode_tok_s", d.tok_s},
                        {"prefill_tok_s", p.prefill.tok_s},
                        {"decode_ms",
                         {{"memory", 1e3 * d.memory_s},
                          {"compute", 1e3 * d.compute_s},
                          {"comm", 1e3 * d.comm_s},
                          {"total", 1e3 * d.seconds}}},
                        {"link", link.ToString()}};
}

void PrintTable(const nlohmann::json& b) {
  const auto& m = b["machine"];
  std::printf("machine: %s, %d cores, %s memory; commit %s\n", m["cpu"].get<std::string>().c_str(),
              m["n_cores"].get<int>(), HumanBytes(m["memory_bytes"].get<uint64_t>()).c_str(),
              b["commit"].get<std::string>().c_str());
  for (const auto& bw : m["mem_read"]) {
    std::printf("memory read: %d thread(s) %.1f GB/s\n", bw["n_threads"].get<int>(),
                bw["read_gb_s"].get<double>());
  }
  std::printf("\n%-12s %-17s %7s %14s %10s %10s %12s %s\n", "model", "nodes", "threads", "test",
              "tok/s", "predicted", "weights GB/s", "exchange us");
  for (const auto& r : b["results"]) {
    std::string gb = r.contains("achieved_gb_s")
                         ? std::to_string(r["achieved_gb_s"].get<double>()).substr(0, 5)
                         : "";
    std::string nodes = std::to_string(r.value("nodes", 1));
    for (const char* key : {"transport", "link_security", "experts"}) {
      if (!r.contains(key)) continue;
      nodes.push_back(' ');
      nodes.append(r[key].get<std::string>());
    }
    std::string us;
    if (r.contains("expert_exchange")) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.1f x %.0f",
                    r["expert_exchange"]["per_token"].get<double>(),
                    r["expert_exchange"]["us"].get<double>());
      us = buf;
    }
    char pred[32] = "";
    if (r.contains("predicted_tok_s")) {
      std::snprintf(pred, sizeof(pred), "%.2f", r["predicted_tok_s"].get<double>());
    }
    // As llama-bench names them: "pp512 @ d4096"; the old attention path marked.
    std::string test = r["test"].get<std::string>();
    if (r.value("n_depth", 0) > 0) test += " @ d" + std::to_string(r["n_depth"].get<int>());
    if (r.value("attention", "tiled") != "tiled") test += " " + r["attention"].get<std::string>();
    std::printf("%-12s %-17s %7d %14s %10.2f %10s %12s %s\n", r["model"].get<std::string>().c_str(),
                nodes.c_str(), r["n_threads"].get<int>(), test.c_str(), r["tok_s"].get<double>(),
                pred, gb.c_str(), us.c_str());
  }
}

}  // namespace shoal::cli
