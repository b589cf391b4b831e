// shoal perplexity -m MODEL -f TEXT [-c CTX] [--json], computed as llama.cpp's llama-perplexity
// does: tokenize the whole text (with BOS if the model adds one), cut it into chunks of CTX
// tokens, put BOS in place of each chunk's first token (if the model adds BOS), evaluate each
// chunk from an empty cache, and score only the second half of each chunk: the logits at
// positions CTX/2 .. CTX-2 predict the tokens at CTX/2+1 .. CTX-1. ppl = exp(mean NLL).
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cluster_flags.h"

namespace shoal::cli {
namespace {

struct Opts {
  ClusterOptions cluster;
  std::string model, file;
  int64_t n_ctx = 512;
  int n_threads = 0;
  int64_t n_chunks = -1;
  bool json = false;
};

// -log softmax(logits)[target], in double.
double Nll(std::span<const float> logits, int32_t target) {
  float max_logit = logits[0];
  for (float x : logits) max_logit = std::max(max_logit, x);
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - max_logit);
  return std::log(sum) + max_logit - double(logits[static_cast<size_t>(target)]);
}

Status Perplexity(const Opts& o) {
  if (o.n_ctx < 4) return InvalidArgument("-c must be at least 4");
  SHOAL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(o.file));
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster));
  const model::Tokenizer& tok = e->tokenizer();
  const std::vector<int32_t> tokens = tok.Encode(text, true, false);
  const int64_t n_ctx = o.n_ctx;
  if (static_cast<int64_t>(tokens.size()) < 2 * n_ctx) {
    return InvalidArgument("the text gives " + std::to_string(tokens.size()) +
                           " tokens; perplexity with a context of " + std::to_string(n_ctx) +
                           " needs at least " + std::to_string(2 * n_ctx));
  }
  int64_t n_chunk = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (o.n_chunks > 0) n_chunk = std::min(n_chunk, o.n_chunks);
  const int64_t first = n_ctx / 2;
  const int32_t n_vocab = e->n_vocab();
  const bool add_bos = tok.add_bos() && tok.bos() >= 0;

  if (!o.json) {
    std::fprintf(stderr, "shoal: %zu tokens, %lld chunks of %lld, scoring %lld per chunk\n",
                 tokens.size(), static_cast<long long>(n_chunk), static_cast<long long>(n_ctx),
                 static_cast<long long>(n_ctx - first - 1));
  }
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  const double t0 = NowMs();
  for (int64_t c = 0; c < n_chunk; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    if (add_bos) chunk[0] = tok.bos();
    SHOAL_RETURN_IF_ERROR(e->Reset());
    const std::span<const int32_t> all(chunk);
    // The first half only fills the cache; the second half returns a row of logits per token.
    SHOAL_RETURN_IF_ERROR(e->Eval(all.subspan(0, first), false).status());
    SHOAL_ASSIGN_OR_RETURN(std::span<const float> logits, e->Eval(all.subspan(first), true));
    const size_t n_rows = static_cast<size_t>(n_ctx - first);
    if (logits.size() != n_rows * static_cast<size_t>(n_vocab)) {
      return Internal("session returned " + std::to_string(logits.size()) + " logits for " +
                      std::to_string(n_rows) + " positions");
    }
    for (int64_t k = 0; k + 1 < n_ctx - first; ++k) {
      const double v =
          Nll(logits.subspan(static_cast<size_t>(k) * n_vocab, static_cast<size_t>(n_vocab)),
              chunk[static_cast<size_t>(first + k + 1)]);
      nll += v;
      nll2 += v * v;
      ++count;
    }
    if (!o.json) {
      std::printf("[%lld]%.4f,", static_cast<long long>(c + 1), std::exp(nll / count));
      std::fflush(stdout);
    }
  }
  const double mean = nll / count;
  const double ppl = std::exp(mean);
  double var = nll2 / count - mean * mean;
  const double err = (var > 0 && count > 1) ? std::sqrt(var / (count - 1)) * ppl : 0.0;
  const double ms = NowMs() - t0;
  if (o.json) {
    nlohmann::json j = {{"ppl", ppl},         {"ppl_err", err},         {"n_chunks", n_chunk},
                        {"ctx", n_ctx},       {"tokens_scored", count}, {"n_tokens", tokens.size()},
                        {"seconds", ms / 1e3}};
    std::printf("%s\n", j.dump().c_str());
    return Status::Ok();
  }
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, err);
  std::fprintf(stderr, "shoal: %lld tokens scored in %.1f s (%.1f tok/s evaluated)\n",
               static_cast<long long>(count), ms / 1e3, n_chunk * n_ctx / (ms * 1e-3));
  return Status::Ok();
}

}  // namespace

Action RegisterPerplexity(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("perplexity", "Perplexity of a text, as llama-perplexity");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  AddClusterOptions(sub, &o->cluster);
  sub->add_option("-f,--file", o->file, "text file")->required();
  sub->add_option("-c,--ctx", o->n_ctx, "tokens per chunk")->capture_default_str();
  sub->add_option("--chunks", o->n_chunks, "at most this many chunks; -1 = all")
      ->capture_default_str();
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core");
  sub->add_flag("--json", o->json, "print {ppl, n_chunks, ctx, tokens_scored}");
  return [o] { return Perplexity(*o); };
}

}  // namespace shoal::cli
