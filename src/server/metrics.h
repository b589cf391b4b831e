// Counters for GET /metrics, rendered in Prometheus' text format (version 0.0.4) together with
// the scheduler's own figures (queue depth, batch size, step time, KV blocks).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/scheduler.h"
#include "server/live_history.h"

namespace shoal::server {

class Metrics {
 public:
  // One answered HTTP request.
  void CountRequest(const std::string& endpoint, int http_status);
  // A generation finished: its tokens and timings.
  void CountGeneration(const runtime::GenerationResult& r);
  // A streaming client went away before its answer was complete.
  void CountDisconnect();

  // n_nodes: the pool's size (1: single node). `node_lines`: per-node series, already rendered.
  std::string Render(const runtime::SchedulerStats& s, int n_nodes, int32_t n_ctx,
                     const std::string& node_lines = "") const;
  // For the dashboard's live figures (server/pool_status.h).
  GenerationTotals totals() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t generations_ = 0, prompt_tokens_ = 0, cached_tokens_ = 0, completion_tokens_ = 0;
  int64_t disconnects_ = 0;
  double ttft_ms_sum_ = 0, decode_ms_sum_ = 0, queue_ms_sum_ = 0;
  std::map<std::string, int64_t> finish_;
  std::string last_error_;        // of the last generation that ended in kError
  int64_t first_tokens_ = 0;      // generations that produced a token
  double first_ttft_ms_sum_ = 0;  // their times to first token
};

}  // namespace shoal::server
