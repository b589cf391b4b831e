// Helpers of the pool tests: the built `shoal` (SHOAL_BIN) as child processes with their output
// in files, the workers' announced addresses, the shared test model and greedy tokens.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/test_files.h"

namespace shoal::pool_test {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

inline std::string Bin() {
  const char* b = std::getenv("SHOAL_BIN");
  return b ? b : "shoal";
}

using shoal::test_files::ReadAll;

inline std::string Tmp() { return shoal::test_files::TestTmpDir("shoal_cluster_test"); }

// A child process running shoal with stdout/stderr to files.
struct Proc {
  pid_t pid = -1;
  std::string out_path, err_path;
  int code = -1;  // after Wait: exit status, or 128 + signal
  std::string out() const { return ReadAll(out_path); }
  std::string err() const { return ReadAll(err_path); }
  // Waits at most timeout_s; false (and the child killed) when it did not end in time.
  bool Wait(double timeout_s) {
    const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
      }
      if (Clock::now() > end) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

// `binary` with `args`, output to files named after `tag`, `env` added to the environment.
inline Proc StartAs(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& tag, const std::vector<std::string>& env = {}) {
  Proc p;
  p.out_path = Tmp() + "/" + tag + ".out";
  p.err_path = Tmp() + "/" + tag + ".err";
  // Emptied here, before the child exists, so nothing of an earlier run is read as its output.
  std::ofstream(p.out_path, std::ios::trunc);
  std::ofstream(p.err_path, std::ios::trunc);
  p.pid = fork();
  if (p.pid == 0) {
    const int o = open(p.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(p.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<std::string> a = {binary};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return p;
}

inline Proc Start(const std::vector<std::string>& args, const std::string& tag,
                  const std::vector<std::string>& env = {}) {
  return StartAs(Bin(), args, tag, env);
}

inline Proc RunShoal(const std::vector<std::string>& args, const std::string& tag,
                     double timeout_s = 120, const std::vector<std::string>& env = {}) {
  Proc p = Start(args, tag, env);
  EXPECT_TRUE(p.Wait(timeout_s)) << tag << " did not finish in " << timeout_s << " s";
  return p;
}

inline json Json(const Proc& p) {
  json j = json::parse(p.out(), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << p.out() << "\n" << p.err();
  return j;
}

// Children of `pid` (Linux /proc; empty elsewhere).
inline std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t c;
  while (f >> c) out.push_back(c);
  return out;
}

inline bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// The address a `shoal worker --listen 127.0.0.1:0` announced on stderr; empty after 5 s.
inline std::string ListenAddress(const Proc& w) {
  for (int i = 0; i < 500; ++i) {
    const std::string e = w.err();
    const size_t at = e.find("listening on ");
    const size_t end = at == std::string::npos ? at : e.find(' ', at + 13);
    if (end != std::string::npos) return e.substr(at + 13, end - at - 13);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

inline const std::string& Model() {
  static const std::string path = [] {
    const std::string p = Tmp() + "/pool-q8_0.gguf";
    Proc g = RunShoal({"gen-model", "-o", p, "--n-embd", "256", "--n-layer", "3", "--n-head", "8",
                       "--n-head-kv", "2", "--n-ff", "768", "--type", "q4_k_m", "--seed", "3"},
                      "gen");
    EXPECT_EQ(g.code, 0) << g.err();
    return p;
  }();
  return path;
}

inline const std::vector<std::string> kGreedy = {
    "-p", "Pools of machines share their memory", "-n", "24", "--temp", "0", "-t", "1", "--json"};

inline std::vector<int> Tokens(const std::vector<std::string>& extra, const std::string& tag,
                               const std::string& model = Model()) {
  std::vector<std::string> args = {"run", "-m", model};
  args.insert(args.end(), kGreedy.begin(), kGreedy.end());
  args.insert(args.end(), extra.begin(), extra.end());
  Proc p = RunShoal(args, tag);
  EXPECT_EQ(p.code, 0) << tag << ": " << p.err();
  json j = Json(p);
  return j.is_object() ? j["tokens"].get<std::vector<int>>() : std::vector<int>{};
}

}  // namespace shoal::pool_test
