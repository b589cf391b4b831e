#include "base/progress_board.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "base/progress.h"

namespace shoal {
namespace {

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

uint64_t ProgressPhase::done() const {
  uint64_t n = 0;
  for (const ProgressItem& it : items) n += it.done;
  return n;
}

uint64_t ProgressPhase::total() const {
  uint64_t n = 0;
  for (const ProgressItem& it : items) n += it.total;
  return n;
}

bool ProgressPhase::finished() const {
  for (const ProgressItem& it : items) {
    if (!it.finished) return false;
  }
  return true;
}

const char* LoadStateName(LoadState s) {
  switch (s) {
    case LoadState::kLoading:
      return "loading";
    case LoadState::kReady:
      return "ready";
    case LoadState::kFailed:
      return "failed";
  }
  return "loading";
}

ProgressBoard::ProgressBoard(FILE* echo)
    : ProgressBoard(echo, echo != nullptr && isatty(fileno(echo)) == 1) {}

ProgressBoard::ProgressBoard(FILE* echo, bool tty, double min_log_s)
    : echo_(echo), tty_(tty), min_log_s_(min_log_s) {}

void ProgressBoard::Report(const std::string& phase, const std::string& label,
                           const std::string& unit, int node, uint64_t done, uint64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = NowS();
  size_t pi = 0;
  while (pi < phases_.size() && phases_[pi].name != phase) ++pi;
  if (pi == phases_.size()) {
    phases_.push_back({phase, label, unit, {}});
    started_s_.emplace_back();
  }
  ProgressPhase& p = phases_[pi];
  size_t ii = 0;
  while (ii < p.items.size() && p.items[ii].node != node) ++ii;
  const bool fresh = ii == p.items.size();
  if (fresh) {
    p.items.push_back({node, 0, 0, false, 0});
    started_s_[pi].push_back(now);
  }
  ProgressItem& it = p.items[ii];
  const bool finish = done >= total;
  if (it.finished && !finish) started_s_[pi][ii] = now;  // started again
  const bool was_finished = it.finished;
  it.done = std::min(done, total);
  it.total = total;
  it.finished = finish;
  it.elapsed_s = now - started_s_[pi][ii];
  if (echo_ == nullptr || (finish && was_finished)) return;
  if (tty_) {
    if (!finish && !fresh && now - last_draw_s_ < 0.1) return;
    last_draw_s_ = now;
    Draw(p, it, it.elapsed_s);
  } else if (finish && it.elapsed_s >= min_log_s_) {
    Draw(p, it, it.elapsed_s);
  }
}

void ProgressBoard::Draw(const ProgressPhase& p, const ProgressItem& it, double elapsed_s) {
  std::string label = "shoal: " + p.label;
  if (it.node >= 0) label += ", node " + std::to_string(it.node);
  const std::string line =
      FormatProgress(label, it.done, it.total, p.unit, elapsed_s, tty_ ? 30 : 0);
  if (tty_) {
    // \r and clear to the end of the line: one line redrawn in place. A step that took long
    // keeps its finished line (a line end); the next draw overwrites a quick one.
    const bool keep = it.finished && elapsed_s >= min_log_s_;
    std::fprintf(echo_, "\r%s\x1b[K%s", line.c_str(), keep ? "\n" : "");
    line_open_ = !keep;
  } else {
    std::fprintf(echo_, "%s\n", line.c_str());
  }
  std::fflush(echo_);
}

void ProgressBoard::ClearLine() {
  if (echo_ == nullptr || !line_open_) return;
  std::fprintf(echo_, "\r\x1b[K");  // the terminal line goes; what follows starts clean
  std::fflush(echo_);
  line_open_ = false;
}

ProgressFn ProgressBoard::Reporter(const std::string& phase, const std::string& label,
                                   const std::string& unit, int node) {
  return [this, phase, label, unit, node](uint64_t done, uint64_t total) {
    Report(phase, label, unit, node, done, total);
  };
}

void ProgressBoard::SetReady() {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = LoadState::kReady;
  ClearLine();
}

void ProgressBoard::SetFailed(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = LoadState::kFailed;
  error_ = error;
  ClearLine();
}

LoadState ProgressBoard::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

ProgressSnapshot ProgressBoard::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  ProgressSnapshot s;
  s.state = state_;
  s.error = error_;
  s.phases = phases_;
  const double now = NowS();
  for (size_t pi = 0; pi < s.phases.size(); ++pi) {
    for (size_t ii = 0; ii < s.phases[pi].items.size(); ++ii) {
      ProgressItem& it = s.phases[pi].items[ii];
      if (!it.finished) it.elapsed_s = now - started_s_[pi][ii];
    }
  }
  s.current = int(s.phases.size()) - 1;
  for (int i = int(s.phases.size()) - 1; i >= 0; --i) {
    if (!s.phases[size_t(i)].finished()) {
      s.current = i;
      break;
    }
  }
  return s;
}

}  // namespace shoal
