#include "server/live_history.h"

namespace shoal::server {

void LiveHistory::Record(int64_t t_ms, const runtime::SchedulerStats& s,
                         const GenerationTotals& g) {
  if (!have_prev_ || t_ms <= prev_t_ms_) {
    have_prev_ = true;
    prev_t_ms_ = t_ms;
    prev_ = s;
    prev_gen_ = g;
    return;
  }
  const double dt_s = double(t_ms - prev_t_ms_) / 1000.0;
  LiveSample x;
  x.t_ms = t_ms;
  // Counters only grow; a smaller value (a restarted scheduler) counts as zero.
  const auto rate = [dt_s](int64_t now, int64_t before) {
    return now > before ? double(now - before) / dt_s : 0.0;
  };
  x.prompt_tokens_per_s = rate(s.prompt_tokens_total, prev_.prompt_tokens_total);
  x.decode_tokens_per_s = rate(s.generated_tokens_total, prev_.generated_tokens_total);
  x.requests_running = s.requests_running;
  x.requests_queued = s.requests_queued;
  x.batch_sequences = s.last_batch_sequences;
  x.batch_tokens = s.last_batch_tokens;
  if (g.first_tokens > prev_gen_.first_tokens) {
    x.ttft_ms =
        (g.ttft_ms_sum - prev_gen_.ttft_ms_sum) / double(g.first_tokens - prev_gen_.first_tokens);
  }
  x.step_ms = s.last_step_ms;
  x.kv_blocks_used = s.kv_blocks_used;
  x.kv_blocks_total = s.kv_blocks_total;
  prev_t_ms_ = t_ms;
  prev_ = s;
  prev_gen_ = g;

  if (samples_.size() < capacity_) {
    samples_.push_back(x);
  } else {
    samples_[head_] = x;
    head_ = (head_ + 1) % capacity_;
  }
}

std::optional<LiveSample> LiveHistory::latest() const {
  if (samples_.empty()) return std::nullopt;
  return samples_[(head_ + samples_.size() - 1) % samples_.size()];
}

std::vector<LiveSample> LiveHistory::Since(int64_t since_ms) const {
  std::vector<LiveSample> out;
  for (size_t i = 0; i < samples_.size(); ++i) {
    const LiveSample& x = samples_[(head_ + i) % samples_.size()];
    if (since_ms < 0 || x.t_ms > since_ms) out.push_back(x);
  }
  return out;
}

nlohmann::ordered_json LiveHistory::ToJson(const LiveSample& s) {
  nlohmann::ordered_json j;
  j["t_ms"] = s.t_ms;
  j["prompt_tokens_per_s"] = s.prompt_tokens_per_s;
  j["decode_tokens_per_s"] = s.decode_tokens_per_s;
  j["requests_running"] = s.requests_running;
  j["requests_queued"] = s.requests_queued;
  j["batch_sequences"] = s.batch_sequences;
  j["batch_tokens"] = s.batch_tokens;
  j["ttft_ms"] = s.ttft_ms ? nlohmann::ordered_json(*s.ttft_ms) : nlohmann::ordered_json(nullptr);
  j["step_ms"] = s.step_ms;
  j["kv_blocks_used"] = s.kv_blocks_used;
  j["kv_blocks_total"] = s.kv_blocks_total;
  return j;
}

}  // namespace shoal::server
