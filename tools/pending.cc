// Verbs whose engine parts (model::Model, runtime::Session, the quantizing kernels) are not in
// this build yet: they parse any flags and fail with one clear line.
#include <CLI/CLI.hpp>

#include "cli_common.h"

namespace shoal::cli {
namespace {

Action Pending(CLI::App& app, const char* name, const char* what) {
  CLI::App* sub = app.add_subcommand(name, std::string(what) + " (not in this build yet)");
  sub->allow_extras();
  const std::string verb = name;
  return [verb] {
    return Unimplemented("'shoal " + verb +
                         "' needs the model engine (model::Model, runtime::Session), which this "
                         "build does not have yet");
  };
}

}  // namespace

Action RegisterRun(CLI::App& app) { return Pending(app, "run", "Generate text from a prompt"); }
Action RegisterLogits(CLI::App& app) {
  return Pending(app, "logits", "Write the last position's logits");
}
Action RegisterPerplexity(CLI::App& app) {
  return Pending(app, "perplexity", "Perplexity of a text");
}
Action RegisterGenModel(CLI::App& app) {
  return Pending(app, "gen-model", "Write a random-weight GGUF model");
}
Action RegisterBench(CLI::App& app) { return Pending(app, "bench", "Decode and prefill speed"); }

}  // namespace shoal::cli
