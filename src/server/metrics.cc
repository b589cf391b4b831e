#include "server/metrics.h"

#include <cstdio>

namespace shoal::server {
namespace {

void Line(std::string* out, const char* name, const char* type, const char* help) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

void Metrics::CountRequest(const std::string& endpoint, int http_status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, http_status}];
}

void Metrics::CountGeneration(const runtime::GenerationResult& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generations_;
  prompt_tokens_ += r.prompt_tokens;
  cached_tokens_ += r.cached_tokens;
  completion_tokens_ += r.completion_tokens;
  ttft_ms_sum_ += r.time_to_first_token_ms;
  decode_ms_sum_ += r.decode_ms;
  queue_ms_sum_ += r.queue_ms;
  ++finish_[runtime::FinishReasonName(r.reason)];
  if (r.reason == runtime::FinishReason::kError) last_error_ = r.status.ToString();
  if (r.completion_tokens > 0) {
    ++first_tokens_;
    first_ttft_ms_sum_ += r.time_to_first_token_ms;
  }
}

GenerationTotals Metrics::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {generations_, first_tokens_, first_ttft_ms_sum_, last_error_};
}

void Metrics::CountDisconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  ++disconnects_;
}

std::string Metrics::Render(const runtime::SchedulerStats& s, int n_nodes, int32_t n_ctx,
                            const std::string& node_lines) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string o;
  Line(&o, "shoal_http_requests_total", "counter",
       "HTTP requests answered, by endpoint and status");
  for (const auto& [k, v] : requests_) {
    o += "shoal_http_requests_total{endpoint=\"" + k.first + "\",status=\"" +
         std::to_string(k.second) + "\"} " + std::to_string(v) + "\n";
  }
  Line(&o, "shoal_generations_total", "counter", "generations finished, by finish reason");
  for (const auto& [k, v] : finish_) {
    o += "shoal_generations_total{reason=\"" + k + "\"} " + std::to_string(v) + "\n";
  }
  Line(&o, "shoal_client_disconnects_total", "counter",
       "streaming clients gone before their answer was complete (their requests cancelled)");
  o += "shoal_client_disconnects_total " + std::to_string(disconnects_) + "\n";
  Line(&o, "shoal_prompt_tokens_total", "counter", "prompt tokens of finished generations");
  o += "shoal_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  Line(&o, "shoal_cached_prompt_tokens_total", "counter",
       "prompt tokens whose KV came from the prefix cache");
  o += "shoal_cached_prompt_tokens_total " + std::to_string(cached_tokens_) + "\n";
  Line(&o, "shoal_completion_tokens_total", "counter", "tokens generated");
  o += "shoal_completion_tokens_total " + std::to_string(completion_tokens_) + "\n";
  Line(&o, "shoal_time_to_first_token_ms_sum", "counter", "sum of times to first token");
  o += "shoal_time_to_first_token_ms_sum " + Num(ttft_ms_sum_) + "\n";
  Line(&o, "shoal_queue_ms_sum", "counter", "sum of times spent waiting in the queue");
  o += "shoal_queue_ms_sum " + Num(queue_ms_sum_) + "\n";
  Line(&o, "shoal_decode_ms_sum", "counter", "sum of first-to-last-token times");
  o += "shoal_decode_ms_sum " + Num(decode_ms_sum_) + "\n";

  Line(&o, "shoal_scheduler_requests_total", "counter", "requests the scheduler accepted");
  o += "shoal_scheduler_requests_total " + std::to_string(s.requests_total) + "\n";
  Line(&o, "shoal_scheduler_cancelled_total", "counter",
       "requests cancelled (client gone, or shutdown); their KV blocks were freed");
  o += "shoal_scheduler_cancelled_total " + std::to_string(s.cancelled_total) + "\n";
  Line(&o, "shoal_requests_running", "gauge", "sequences being generated");
  o += "shoal_requests_running " + std::to_string(s.requests_running) + "\n";
  Line(&o, "shoal_queue_depth", "gauge", "requests waiting for a sequence slot");
  o += "shoal_queue_depth " + std::to_string(s.requests_queued) + "\n";
  Line(&o, "shoal_steps_total", "counter", "evaluation steps");
  o += "shoal_steps_total " + std::to_string(s.steps_total) + "\n";
  Line(&o, "shoal_batch_sequences", "gauge", "sequences in the last step's batch");
  o += "shoal_batch_sequences " + std::to_string(s.last_batch_sequences) + "\n";
  Line(&o, "shoal_batch_tokens", "gauge", "tokens in the last step's batch");
  o += "shoal_batch_tokens " + std::to_string(s.last_batch_tokens) + "\n";
  Line(&o, "shoal_step_ms", "gauge",
       "wall time of the last step on rank 0 (pooled: every node's part, collectives included)");
  o += "shoal_step_ms{nodes=\"" + std::to_string(n_nodes) + "\"} " + Num(s.last_step_ms) + "\n";
  Line(&o, "shoal_kv_blocks", "gauge", "KV cache blocks (used and total) and tokens per block");
  o += "shoal_kv_blocks{state=\"used\"} " + std::to_string(s.kv_blocks_used) + "\n";
  o += "shoal_kv_blocks{state=\"total\"} " + std::to_string(s.kv_blocks_total) + "\n";
  o += "shoal_kv_block_tokens " + std::to_string(s.kv_block_tokens) + "\n";
  Line(&o, "shoal_pool_nodes", "gauge", "nodes in the pool (1: single node)");
  o += "shoal_pool_nodes " + std::to_string(n_nodes) + "\n";
  Line(&o, "shoal_context_tokens", "gauge", "context length per sequence");
  o += "shoal_context_tokens " + std::to_string(n_ctx) + "\n";
  o += node_lines;
  return o;
}

}  // namespace shoal::server
