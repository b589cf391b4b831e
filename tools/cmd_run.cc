// shoal run -m MODEL (-p TEXT | -f FILE) [-n N] [sampling flags] [-t T] [-c CTX] [--json]
// Streams the generated text to stdout; timings go to stderr (or into the JSON object).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cluster_flags.h"
#include "model/tokenizer_stream.h"
#include "runtime/sampler.h"

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
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster));
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
  runtime::Sampler sampler(o.sp);
  for (int32_t t : prompt) sampler.Accept(t);

  const double t0 = NowMs();
  SHOAL_ASSIGN_OR_RETURN(std::span<const float> logits, e->Eval(prompt, false));
  const double prompt_ms = NowMs() - t0;

  model::DecodeStream stream(tok);
  std::vector<int32_t> generated;
  std::string out_text;
  std::string stop = "length";
  double decode_ms = 0;
  int n_decoded = 0;  // tokens evaluated one at a time
  while (static_cast<int>(generated.size()) < o.n_predict) {
    const int32_t t = sampler.Sample(logits);
    sampler.Accept(t);
    if (tok.IsEog(t) && !o.ignore_eos) {
      stop = "eog";
      break;
    }
    generated.push_back(t);
    const std::string piece = stream.Push(t);
    out_text += piece;
    if (!o.json && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    if (static_cast<int>(generated.size()) == o.n_predict) break;
    if (e->n_past() >= e->n_ctx) {
      stop = "context";
      break;
    }
    const double t1 = NowMs();
    const int32_t one[1] = {t};
    SHOAL_ASSIGN_OR_RETURN(logits, e->Eval(std::span<const int32_t>(one, 1), false));
    decode_ms += NowMs() - t1;
    ++n_decoded;
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
