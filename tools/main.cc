// shoal: the command line. Thin: each verb parses its flags and calls the engine's public headers.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli_common.h"

int main(int argc, char** argv) {
  using shoal::cli::Action;
  shoal::cli::SetProgramArgs(argc, argv);
  CLI::App app("shoal: LLM inference on pooled machines", "shoal");
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return "shoal " + shoal::cli::BuildCommit(); });

  std::vector<std::pair<CLI::App*, Action>> verbs;
  auto add = [&](Action (*reg)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    Action action = reg(app);
    verbs.emplace_back(app.get_subcommands({})[before], std::move(action));
  };
  add(shoal::cli::RegisterRun);
  add(shoal::cli::RegisterTokenize);
  add(shoal::cli::RegisterTemplate);
  add(shoal::cli::RegisterLogits);
  add(shoal::cli::RegisterPerplexity);
  add(shoal::cli::RegisterInspect);
  add(shoal::cli::RegisterGenModel);
  add(shoal::cli::RegisterBench);
  add(shoal::cli::RegisterPlan);
  add(shoal::cli::RegisterWorker);
  add(shoal::cli::RegisterServe);
  add(shoal::cli::RegisterId);
  add(shoal::cli::RegisterSecret);
  add(shoal::cli::RegisterDiscover);
  add(shoal::cli::RegisterNodes);
  add(shoal::cli::RegisterDrain);
  add(shoal::cli::RegisterUpgrade);
  add(shoal::cli::RegisterPush);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    std::fprintf(stderr, "shoal: error: %s (see shoal --help)\n", what.c_str());
    return 2;
  }

  for (auto& [sub, action] : verbs) {
    if (!sub->parsed()) continue;
    shoal::Status st;
    try {
      st = action();
    } catch (const std::bad_alloc&) {
      st = shoal::ResourceExhausted("out of memory");
    } catch (const std::exception& e) {
      st = shoal::Internal(e.what());
    }
    std::fflush(stdout);
    if (!st.ok()) {
      std::fprintf(stderr, "shoal: error: %s\n", st.ToString().c_str());
      return 1;
    }
    return 0;
  }
  return 2;
}
