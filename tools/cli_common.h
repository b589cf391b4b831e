// Helpers shared by the verbs of the `shoal` command line: reading inputs, printing errors,
// clocks, JSON. Every verb is a function returning Status; main() turns a bad Status into one
// line "shoal: error: ..." on stderr and a non-zero exit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace CLI {
class App;
}

namespace shoal::cli {

// A verb: its options live inside the closure, bound when it registers with CLI11.
using Action = std::function<Status()>;

// Each verb file provides one of these; main() calls them all.
// The command line this process was started with (main sets it): `shoal worker` restarts itself
// with it after an upgrade.
void SetProgramArgs(int argc, char** argv);
const std::vector<std::string>& ProgramArgs();

Action RegisterRun(CLI::App& app);
Action RegisterTokenize(CLI::App& app);
Action RegisterLogits(CLI::App& app);
Action RegisterPerplexity(CLI::App& app);
Action RegisterInspect(CLI::App& app);
Action RegisterGenModel(CLI::App& app);
Action RegisterBench(CLI::App& app);
Action RegisterPlan(CLI::App& app);
Action RegisterWorker(CLI::App& app);
Action RegisterServe(CLI::App& app);
Action RegisterTemplate(CLI::App& app);
Action RegisterId(CLI::App& app);
Action RegisterSecret(CLI::App& app);
Action RegisterDiscover(CLI::App& app);
Action RegisterNodes(CLI::App& app);
Action RegisterDrain(CLI::App& app);
Action RegisterUpgrade(CLI::App& app);
Action RegisterPush(CLI::App& app);

// The whole file, byte for byte.
StatusOr<std::string> ReadFileBytes(const std::string& path);
// Text from -p or -f (exactly one of them must be set); -f is read byte for byte.
StatusOr<std::string> PromptText(const std::string& prompt, const std::string& file);
Status WriteFileBytes(const std::string& path, const void* data, size_t bytes);

inline double NowMs() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

// "1.23 GiB"
std::string HumanBytes(uint64_t bytes);

// The commit this binary was built from (git describe at configure time), or "unknown".
std::string BuildCommit();

}  // namespace shoal::cli
