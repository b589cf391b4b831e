// shoal logits -m MODEL (-f FILE | -p TEXT) -o OUT: the last position's logits after evaluating
// the whole prompt in one batch, written as raw little-endian float32, n_vocab values.
#include <CLI/CLI.hpp>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cluster_flags.h"

namespace shoal::cli {
namespace {

// "1,2,3" (spaces and brackets allowed, as a JSON array prints) -> ids, each in [0, n_vocab).
StatusOr<std::vector<int32_t>> ParseIds(const std::string& list, int32_t n_vocab) {
  std::vector<int32_t> ids;
  std::string cur;
  for (char c : list + ",") {
    if (c == ',' || c == ' ' || c == '[' || c == ']' || c == '\n') {
      if (cur.empty()) continue;
      char* end = nullptr;
      const long long v = std::strtoll(cur.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v >= n_vocab) {
        return InvalidArgument("token id '" + cur + "' is not in [0, " + std::to_string(n_vocab) +
                               ")");
      }
      ids.push_back(static_cast<int32_t>(v));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return ids;
}

struct Opts {
  ClusterOptions cluster;
  std::string model, prompt, file, out, ids;
  int n_threads = 0;
  int64_t n_ctx = 0;
  bool no_bos = false;
  bool no_parse_special = false;
};

Status Logits(const Opts& o) {
  static_assert(std::endian::native == std::endian::little, "raw float32 LE output");
  if (o.ids.empty() && o.prompt.empty() && o.file.empty()) {
    return InvalidArgument("give the prompt: -f FILE, -p TEXT or --ids LIST");
  }
  std::string text;
  if (o.ids.empty()) {
    SHOAL_ASSIGN_OR_RETURN(text, PromptText(o.prompt, o.file));
  } else if (!o.prompt.empty() || !o.file.empty()) {
    return InvalidArgument("give either --ids or a text, not both");
  }
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster));
  std::vector<int32_t> ids;
  if (o.ids.empty()) {
    ids = e->tokenizer().Encode(text, !o.no_bos, !o.no_parse_special);
  } else {
    SHOAL_ASSIGN_OR_RETURN(ids, ParseIds(o.ids, e->n_vocab()));
  }
  if (ids.empty()) return InvalidArgument("the prompt gives no tokens");
  if (static_cast<int64_t>(ids.size()) > e->n_ctx) {
    return InvalidArgument("the text has " + std::to_string(ids.size()) +
                           " tokens, the context only " + std::to_string(e->n_ctx) + " (raise -c)");
  }
  SHOAL_ASSIGN_OR_RETURN(std::span<const float> logits, e->Eval(ids, false));
  if (logits.size() != static_cast<size_t>(e->n_vocab())) {
    return Internal("session returned " + std::to_string(logits.size()) + " logits, want " +
                    std::to_string(e->n_vocab()));
  }
  SHOAL_RETURN_IF_ERROR(WriteFileBytes(o.out, logits.data(), logits.size() * sizeof(float)));
  std::fprintf(stderr, "shoal: %zu prompt tokens, wrote %zu logits to %s\n", ids.size(),
               logits.size(), o.out.c_str());
  return Status::Ok();
}

}  // namespace

Action RegisterLogits(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("logits", "Write the last position's logits (raw float32 LE, n_vocab)");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  AddClusterOptions(sub, &o->cluster);
  auto* f = sub->add_option("-f,--file", o->file, "prompt file, used byte for byte");
  auto* p = sub->add_option("-p,--prompt", o->prompt, "prompt text");
  p->excludes(f);
  sub->add_option("--ids", o->ids, "token ids instead of a text, e.g. 1,2,3 (no BOS added)");
  sub->add_option("-o,--output", o->out, "output file")->required();
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core");
  sub->add_option("-c,--ctx", o->n_ctx, "context length; 0 = the model's, at most 4096");
  sub->add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks for it");
  sub->add_flag("--no-parse-special", o->no_parse_special,
                "treat text such as <|eot_id|> as plain text");
  return [o] { return Logits(*o); };
}

}  // namespace shoal::cli
