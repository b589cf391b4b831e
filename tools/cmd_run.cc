// shoal run -m MODEL (-p TEXT | -f FILE) [-n N] [sampling flags] [-t T] [-c CTX] [--json]
// Streams the generated text to stdout; timings go to stderr (or into the JSON object).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/progress_board.h"
#include "cli_common.h"
#include "cluster_flags.h"
#include "model/tokenizer_stream.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"

namespace shoal::cli {
namespace {

struct Opts {
  ClusterOptions cluster;
  std::string model, prompt, file;
  int n_predict = 128;
  int n_threads = 0;
  int64_t n_ctx = 0;
  int64_t seed = -1;
  bool json = false;
  bool no_parse_special = false;
  bool ignore_eos = false;
  runtime::SamplerParams sp;
};

Status Run(Opts o) {
  SHOAL_ASSIGN_OR_RETURN(std::string text, PromptText(o.prompt, o.file));
  if (o.n_predict < 0) return InvalidArgument("-n must be >= 0");
  ProgressBoard board(stderr);  // the loading's steps: a line on a terminal
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster, 1, &board));
  board.SetReady();
  const model::Tokenizer& tok = e->tokenizer();
  const std::vector<int32_t> prompt = tok.Encode(text, true, !o.no_parse_special);
  if (prompt.empty()) return InvalidArgument("the prompt is empty (and the model adds no BOS)");
  if (static_cast<int64_t>(prompt.size()) >= e->n_ctx) {
    return InvalidArgument("the prompt has " + std::to_string(prompt.size()) +
                           " tokens, the context only " + std::to_string(e->n_ctx) + " (raise -c)");
  }
  if (o.seed < 0)
    o.sp.seed = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  else
    o.sp.seed = static_cast<uint64_t>(o.seed);
  // One request through the scheduler: the same code path as `shoal serve`'s generations.
  std::vector<int32_t> eog;
  if (!o.ignore_eos) {
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      if (tok.IsEog(id)) eog.push_back(id);
    }
  }
  model::DecodeStream stream(tok);
  std::vector<int32_t> generated;
  std::string out_text;
  std::string stop = "length";
  double prompt_ms = 0, decode_ms = 0;
  int n_decoded = 0;  // tokens evaluated one at a time
  if (o.n_predict > 0) {
    runtime::SchedulerOptions so;
    so.max_sequences = 1;
    so.max_queue = 1;
    so.outage_max_ms = 60000;  // a pool that cannot re-form: the run ends after a minute
    EnableFailover(*e, &so);
    SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Scheduler> sched,
                           runtime::Scheduler::Create(*e->executor, eog, so));
    FailoverLink failover(*e, *sched);
    runtime::Request req;
    req.prompt = prompt;
    req.params.sampling = o.sp;
    req.params.max_tokens = o.n_predict;
    req.params.ignore_eos = o.ignore_eos;
    const bool print = !o.json;
    req.on_token = [&](const runtime::TokenEvent& ev) {
      generated.push_back(ev.token);
      const std::string piece = stream.Push(ev.token);
      out_text += piece;
      if (print && !piece.empty()) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
      return runtime::Next::kContinue;
    };
    std::promise<runtime::GenerationResult> done;
    req.on_done = [&](const runtime::GenerationResult& r) { done.set_value(r); };
    SHOAL_RETURN_IF_ERROR(sched->Submit(std::move(req)).status());
    const runtime::GenerationResult r = done.get_future().get();
    sched->Stop();
    if (r.reason == runtime::FinishReason::kError) return r.status;
    if (r.reason == runtime::FinishReason::kStop) stop = "eog";
    if (r.reason == runtime::FinishReason::kContext) stop = "context";
    prompt_ms = r.time_to_first_token_ms - r.queue_ms;
    decode_ms = r.decode_ms;
    n_decoded = std::max(0, r.completion_tokens - 1);
  }
  const std::string tail = stream.Flush();
  out_text += tail;

  nlohmann::json nodes = nlohmann::json::array();
  if (e->n_nodes() > 1) {
    SHOAL_RETURN_IF_ERROR(e->executor->Finish());
    const auto& rss = e->executor->peak_resident_bytes();
    for (size_t r = 0; r < rss.size(); ++r) {
      const parallel::RankPlan& rp = e->job->plan.ranks[r];
      nodes.push_back({{"rank", r},
                       {"name", e->job->plan.nodes[r].name},
                       {"weight_bytes", rp.weight_bytes},
                       {"kv_bytes", rp.kv_bytes},
                       {"offered_bytes", e->job->plan.nodes[r].memory_bytes},
                       {"peak_rss_bytes", rss[r]}});
    }
  }
  const double prompt_tok_s = prompt_ms > 0 ? prompt.size() / (prompt_ms * 1e-3) : 0;
  const double decode_tok_s = decode_ms > 0 ? n_decoded / (decode_ms * 1e-3) : 0;
  if (o.json) {
    nlohmann::json j;
    j["tokens"] = generated;
    j["text"] = out_text;
    j["prompt_tokens"] = prompt.size();
    j["stop"] = stop;
    j["seed"] = o.sp.seed;
    if (!nodes.empty()) j["nodes"] = nodes;
    j["timings"] = {{"prompt_ms", prompt_ms},
                    {"prompt_tok_s", prompt_tok_s},
                    {"decode_ms", decode_ms},
                    {"decode_tokens", n_decoded},
                    {"decode_tok_s", decode_tok_s}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return Status::Ok();
  }
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr,
               "\nshoal: prompt %zu tokens in %.1f ms (%.2f tok/s); decode %d tokens in %.1f ms "
               "(%.2f tok/s); stop: %s\n",
               prompt.size(), prompt_ms, prompt_tok_s, n_decoded, decode_ms, decode_tok_s,
               stop.c_str());
  for (const auto& n : nodes) {
    std::fprintf(stderr, "shoal: node %d (%s): weights %s, peak resident %s\n",
                 n["rank"].get<int>(), n["name"].get<std::string>().c_str(),
                 HumanBytes(n["weight_bytes"].get<uint64_t>()).c_str(),
                 HumanBytes(n["peak_rss_bytes"].get<uint64_t>()).c_str());
  }
  return Status::Ok();
}

}  // namespace

Action RegisterRun(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  AddClusterOptions(sub, &o->cluster);
  auto* p = sub->add_option("-p,--prompt", o->prompt, "prompt text");
  auto* f = sub->add_option("-f,--file", o->file, "prompt file, used byte for byte");
  p->excludes(f);
  sub->add_option("-n,--n-predict", o->n_predict, "tokens to generate at most")
      ->capture_default_str();
  runtime::SamplerParams& sp = o->sp;
  sub->add_option("--temp", sp.temperature, "temperature; 0 = greedy")->capture_default_str();
  sub->add_option("--top-k", sp.top_k, "keep the k most likely tokens; 0 = off")
      ->capture_default_str();
  sub->add_option("--top-p", sp.top_p, "nucleus: smallest set with this mass; 1 = off")
      ->capture_default_str();
  sub->add_option("--min-p", sp.min_p, "drop tokens below min-p * p(max); 0 = off")
      ->capture_default_str();
  sub->add_option("--repeat-penalty", sp.repeat_penalty, "1 = off")->capture_default_str();
  sub->add_option("--repeat-last-n", sp.repeat_last_n, "penalty window in tokens")
      ->capture_default_str();
  sub->add_option("--presence-penalty", sp.presence_penalty, "0 = off")->capture_default_str();
  sub->add_option("--frequency-penalty", sp.frequency_penalty, "0 = off")->capture_default_str();
  sub->add_option("--seed", o->seed, "sampling seed; -1 = random")->capture_default_str();
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core")->capture_default_str();
  sub->add_option("-c,--ctx", o->n_ctx, "context length; 0 = the model's, at most 4096")
      ->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object instead of streaming");
  sub->add_flag("--ignore-eos", o->ignore_eos, "keep generating after end-of-generation tokens");
  sub->add_flag("--no-parse-special", o->no_parse_special,
                "treat text such as <|eot_id|> in the prompt as plain text");
  return [o] { return Run(*o); };
}

}  // namespace shoal::cli
