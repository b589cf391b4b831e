// The dashboard's live figures: one sample a second of the scheduler's counters, turned into
// rates (prompt and decode tokens/s) and kept in a ring buffer of bounded size (600 samples: the
// last ten minutes) for the chart. Pure data: the caller passes the time and the counters, so the
// arithmetic is testable without a clock or an engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/scheduler.h"

namespace shoal::server {

// Cumulative counters of finished generations (from server::Metrics).
struct GenerationTotals {
  int64_t generations = 0;   // finished
  int64_t first_tokens = 0;  // of them, those that produced a token (the others have no TTFT)
  double ttft_ms_sum = 0;    // their times to first token, summed
  std::string last_error;    // the engine's last error (a generation that ended in kError)
};

struct LiveSample {
  int64_t t_ms = 0;  // unix milliseconds
  double prompt_tokens_per_s = 0;
  double decode_tokens_per_s = 0;
  int64_t requests_running = 0, requests_queued = 0;
  int32_t batch_sequences = 0, batch_tokens = 0;
  std::optional<double> ttft_ms;  // mean of the generations finished since the last sample
  double step_ms = 0;             // the last step's wall time on rank 0
  int64_t kv_blocks_used = 0, kv_blocks_total = 0;
};

class LiveHistory {
 public:
  explicit LiveHistory(size_t capacity = 600) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Takes one reading. The first reading (and one whose clock went backwards) only sets the
  // baseline for the rates, so it adds no sample.
  void Record(int64_t t_ms, const runtime::SchedulerStats& s, const GenerationTotals& g);

  size_t size() const { return samples_.size(); }
  size_t capacity() const { return capacity_; }
  // The newest sample; nullopt before two readings.
  std::optional<LiveSample> latest() const;
  // Samples newer than since_ms (all with since_ms < 0), oldest first.
  std::vector<LiveSample> Since(int64_t since_ms) const;

  static nlohmann::ordered_json ToJson(const LiveSample& s);

 private:
  size_t capacity_;
  std::vector<LiveSample> samples_;  // ring: samples_[(head_ + i) % size] is the i-th oldest
  size_t head_ = 0;
  bool have_prev_ = false;
  int64_t prev_t_ms_ = 0;
  runtime::SchedulerStats prev_;
  GenerationTotals prev_gen_;
};

}  // namespace shoal::server
