// The progress of the long operations of one start (mapping and repacking weights, shipping
// shards to nodes, the nodes' load reports, the warm-up), shared by the thread doing them and
// the ones showing them: the terminal (one line redrawn in place when it is a terminal, a plain
// line for each long step otherwise) and the dashboard (GET /v1/pool's `progress`).
//
// Work reports with Report(phase, node, done, total): the first report of a (phase, node) starts
// it (phases keep the order of their first report), done >= total finishes it, a report of less
// after it finished starts it again. Thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace shoal {

struct ProgressItem {
  int node = -1;  // the node (rank) it is about; -1: not per node
  uint64_t done = 0, total = 0;
  bool finished = false;
  double elapsed_s = 0;  // from its start to now, or to its finish
};

struct ProgressPhase {
  std::string name;                 // "map", "ship", "load", "warmup"
  std::string label;                // "mapping and repacking weights"
  std::string unit;                 // "B" (bytes), or what is counted ("nodes", "steps")
  std::vector<ProgressItem> items;  // in the order of their first report

  uint64_t done() const;
  uint64_t total() const;
  bool finished() const;  // every item
  bool per_node() const { return items.size() > 1 || (!items.empty() && items[0].node >= 0); }
};

enum class LoadState { kLoading, kReady, kFailed };
const char* LoadStateName(LoadState s);  // "loading", "ready", "failed"

struct ProgressSnapshot {
  LoadState state = LoadState::kLoading;
  std::string error;  // kFailed: why
  std::vector<ProgressPhase> phases;
  // The phase being worked on: the last one started that has not finished (else the last one);
  // -1 when there is none.
  int current = -1;
};

// What a loader calls as it goes: done of total (in the phase's unit).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

class ProgressBoard {
 public:
  // echo: where to draw the terminal lines (nullptr: nowhere); redrawn in place when it is a
  // terminal.
  explicit ProgressBoard(FILE* echo = nullptr);
  // tty: one line redrawn in place (an item that took at least min_log_s keeps its finished
  // line; SetReady / SetFailed clear the last one); else one plain line when an item that took
  // at least min_log_s finishes.
  ProgressBoard(FILE* echo, bool tty, double min_log_s = 1.0);
  ProgressBoard(const ProgressBoard&) = delete;
  ProgressBoard& operator=(const ProgressBoard&) = delete;

  void Report(const std::string& phase, const std::string& label, const std::string& unit, int node,
              uint64_t done, uint64_t total);
  // Report bound to one phase and node.
  ProgressFn Reporter(const std::string& phase, const std::string& label, const std::string& unit,
                      int node = -1);

  void SetReady();
  void SetFailed(const std::string& error);
  LoadState state() const;
  ProgressSnapshot Snapshot() const;

 private:
  void Draw(const ProgressPhase& p, const ProgressItem& it, double elapsed_s);
  void ClearLine();  // under mu_

  mutable std::mutex mu_;
  FILE* echo_;
  bool tty_;
  double min_log_s_;
  double last_draw_s_ = -1e9;
  bool line_open_ = false;  // a terminal line drawn without its line end (to overwrite)
  LoadState state_ = LoadState::kLoading;
  std::string error_;
  std::vector<ProgressPhase> phases_;
  std::vector<std::vector<double>> started_s_;  // per phase, per item
};

}  // namespace shoal
