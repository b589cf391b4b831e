#include "server/pool_status.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string_view>

#include "base/sysinfo.h"
#include "cluster/engine.h"
#include "cluster/local_workers.h"
#include "parallel/plan.h"
#include "tensor/dtype.h"

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether a child process still runs (a zombie has exited). Linux: its /proc state; elsewhere
// whether it can be signalled.
bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (in) {
    std::string line;
    std::getline(in, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) return true;
    const char state = line[close + 2];
    return state != 'Z' && state != 'X';
  }
  if (std::filesystem::exists("/proc/self")) return false;  // Linux, and the pid is gone
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace

Json WatchedNode(const cluster::NodeView& v) {
  Json o;
  o["address"] = v.address;
  o["state"] = cluster::NodeStateName(v.state);
  o["reason"] = v.reason;
  o["draining"] = v.draining;
  o["state_age_ms"] = v.state_age_ms;
  o["silent_ms"] = v.silent_ms;
  o["rtt_ms"] = v.rtt_ms;
  if (v.heard) {
    const cluster::NodeStatus& st = v.status;
    o["version"] = st.version;
    o["protocol"] = st.protocol;
    o["model_id"] = st.model;
    o["uptime_ms"] = st.uptime_ms;
    o["memory_total_bytes"] = st.memory_total_bytes;
    o["memory_available_bytes"] = st.memory_available_bytes;
    o["load"] = st.load;
    o["threads"] = st.threads;
    o["in_job"] = st.activity == cluster::NodeActivity::kJob;
    o["job_epoch"] = st.job_epoch;
  }
  return o;
}

Json PoolState(const cluster::PoolView& v, const runtime::SchedulerStats& s) {
  Json p;
  p["epoch"] = v.epoch;
  p["state"] = s.available ? v.state : "waiting for nodes";
  p["detail"] = s.available ? v.detail : s.unavailable_why;
  p["members"] = v.members;
  p["reforms"] = s.reforms_total;
  p["failures"] = s.failures_total;
  p["last_reform_ms"] = s.last_reform_ms;
  p["last_reform_reason"] = v.last_reform_reason;
  p["last_resume_ms"] = s.last_resume_ms;
  p["replayed_tokens"] = s.replayed_tokens_total;
  p["upgrade"] = {{"state", v.upgrade_state},
                  {"node", v.upgrade_node},
                  {"done", v.upgrade_done},
                  {"total", v.upgrade_total},
                  {"detail", v.upgrade_detail}};
  Json nodes = Json::array();
  for (const cluster::NodeView& n : v.nodes) nodes.push_back(WatchedNode(n));
  p["nodes"] = nodes;
  return p;
}

Json ModelCard(const model::Model& m, int64_t n_ctx, const std::string& model_id) {
  const model::ModelConfig& c = m.config();
  const gguf::File& f = m.file();
  int64_t params = 0;
  std::map<std::string, uint64_t> by_type;
  for (const gguf::TensorInfo& t : f.tensors()) {
    params += t.n_elements();
    by_type[std::string(DTypeName(t.type))] += t.bytes;
  }
  std::string main_type;
  uint64_t main_bytes = 0;
  for (const auto& [name, bytes] : by_type) {
    if (bytes > main_bytes) main_type = name, main_bytes = bytes;
  }
  Json types = Json::object();
  for (const auto& [name, bytes] : by_type) types[name] = bytes;
  Json j;
  j["id"] = model_id;
  j["name"] = f.metadata().GetStringOr("general.name", "");
  j["file"] = f.paths().empty() ? "" : std::filesystem::path(f.paths()[0]).filename().string();
  j["arch"] = c.arch;
  j["parameters"] = params;
  j["quantization"] = main_type;
  j["weight_types"] = types;
  j["weight_bytes"] = f.tensor_data_bytes();
  j["context"] = n_ctx;
  j["context_train"] = c.n_ctx_train;
  j["kv_bytes_per_token"] = c.KvCacheBytes(1);
  j["n_layer"] = c.n_layer;
  j["n_embd"] = c.n_embd;
  j["n_head"] = c.n_head;
  j["n_head_kv"] = c.n_head_kv;
  j["n_ff"] = c.n_ff;
  j["n_vocab"] = c.n_vocab;
  j["n_expert"] = c.n_expert;
  j["n_expert_used"] = c.n_expert_used;
  j["mla"] = c.mla;
  return j;
}

Json EnginePlan(const cluster::Engine& e) {
  if (e.can_reform()) {  // the plan changes when the pool re-forms
    const std::string plan = e.View().plan_json;
    return plan.empty() ? Json(nullptr) : Json::parse(plan);
  }
  if (e.job) return Json::parse(e.job->plan.ToJson().dump());
  auto desc = parallel::DescribeModel(e.model->file());
  if (!desc.ok()) return Json{{"error", desc.status().ToString()}};
  parallel::NodeSpec self{"this machine", TotalMemoryBytes(), e.pool ? int(e.pool->size()) : 1, 0};
  parallel::PlanOptions po;
  po.n_ctx = int32_t(e.n_ctx);
  auto plan = parallel::MakePlan(*desc, {self}, po);
  if (!plan.ok()) return Json{{"error", plan.status().ToString()}};
  return Json::parse(plan->ToJson().dump());
}

Json NodeStatus(const cluster::Engine& e, const Json& plan, const runtime::SchedulerStats& s,
                const std::string& engine_error, const cluster::PoolView& view) {
  Json nodes = Json::array();
  if (!plan.contains("nodes") || !plan.contains("ranks")) return nodes;
  const Json& specs = plan["nodes"];
  const Json& ranks = plan["ranks"];
  const double kv_frac =
      s.kv_blocks_total > 0 ? double(s.kv_blocks_used) / double(s.kv_blocks_total) : 0.0;
  for (size_t i = 0; i < specs.size() && i < ranks.size(); ++i) {
    const Json& n = specs[i];
    const Json& r = ranks[i];
    const int rank = r.value("rank", int(i));
    Json o;
    o["rank"] = rank;
    o["name"] = n.value("name", "");
    std::string status = "up", detail;
    const auto watched = std::find_if(
        view.nodes.begin(), view.nodes.end(),
        [&](const cluster::NodeView& v) { return v.address == o["name"].get<std::string>(); });
    if (rank == 0) {
      detail = "this process (rank 0: HTTP, tokenizer, sampler)";
    } else if (watched != view.nodes.end()) {
      status = watched->state == cluster::NodeState::kLost   ? "down"
               : watched->state == cluster::NodeState::kSlow ? "slow"
                                                             : "up";
      detail = watched->reason;
      o["health"] = WatchedNode(*watched);
    } else if (e.workers && size_t(rank) <= e.workers->pids().size()) {
      const pid_t pid = e.workers->pids()[size_t(rank - 1)];
      o["pid"] = pid;
      if (!ProcessAlive(pid)) {
        status = "down";
        detail = "worker process " + std::to_string(pid) + " has exited";
      } else if (!engine_error.empty()) {
        status = "unknown";
        detail = "the process runs, but the engine failed: " + engine_error;
      }
    } else if (!engine_error.empty()) {
      status = "unknown";
      detail = "the engine failed: " + engine_error;
    }
    o["status"] = status;
    o["status_detail"] = detail;
    o["memory_bytes"] = n.value("memory_bytes", uint64_t{0});
    o["threads"] = n.value("threads", 0);
    o["bandwidth_gbs"] = n.value("bandwidth_gbs", 0.0);
    o["stage"] = r.value("stage", 0);
    o["share"] = r.value("share", 0.0);
    o["weight_bytes"] = r.value("weight_bytes", uint64_t{0});
    const uint64_t kv = r.value("kv_bytes", uint64_t{0});
    o["kv_budget_bytes"] = kv;
    o["kv_used_bytes"] = uint64_t(double(kv) * kv_frac);
    // Its compute per step and share of rank 0's step wall time (runtime/step_times.h); null
    // before the first step.
    const bool timed = size_t(rank) < s.node_steps.size() && s.node_steps[size_t(rank)].steps > 0;
    const runtime::NodeStepTime t = timed ? s.node_steps[size_t(rank)] : runtime::NodeStepTime{};
    o["step_ms"] = timed ? Json(t.step_ms) : Json(nullptr);
    o["step_share"] = timed ? Json(t.share) : Json(nullptr);
    o["steps"] = t.steps;
    nodes.push_back(o);
  }
  return nodes;
}

PoolMonitor::PoolMonitor(PoolSources sources, PoolMonitorOptions options)
    : src_(std::move(sources)), opt_(options), history_(options.capacity) {
  started_ms_ = NowMs();
  SetEngine(src_.engine);
  Sample();  // the baseline
  thread_ = std::thread([this] { Loop(); });
}

PoolMonitor::~PoolMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PoolMonitor::SetEngine(const cluster::Engine* engine,
                            std::function<shoal::Status(const std::string&, bool)> drain,
                            std::function<shoal::Status(const std::string&)> upgrade) {
  Json model, plan;
  if (engine != nullptr) {
    engine->WithModel(
        [&](const model::Model& m) { model = ModelCard(m, engine->n_ctx, src_.model_id); });
    plan = EnginePlan(*engine);
  }
  std::lock_guard<std::mutex> lock(mu_);
  src_.engine = engine;
  if (drain) src_.drain = std::move(drain);
  if (upgrade) src_.upgrade = std::move(upgrade);
  model_ = std::move(model);
  plan_ = std::move(plan);
}

shoal::Status PoolMonitor::Drain(const std::string& node, bool drain) const {
  std::function<shoal::Status(const std::string&, bool)> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    f = src_.drain;
  }
  if (!f) {
    return InvalidArgument(
        "this server's nodes are not watched (start it with --nodes, --hostfile or --discover)");
  }
  return f(node, drain);
}

shoal::Status PoolMonitor::Upgrade(const std::string& binary) const {
  std::function<shoal::Status(const std::string&)> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    f = src_.upgrade;
  }
  if (!f) {
    return InvalidArgument(
        "this server's nodes are not watched (start it with --nodes, --hostfile or --discover)");
  }
  return f(binary);
}

void PoolMonitor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(opt_.interval_ms));
    if (stop_) break;
    lock.unlock();
    Sample();
    lock.lock();
  }
}

void PoolMonitor::Sample() {
  const runtime::SchedulerStats s = src_.stats ? src_.stats() : runtime::SchedulerStats{};
  const GenerationTotals g = src_.totals ? src_.totals() : GenerationTotals{};
  std::lock_guard<std::mutex> lock(mu_);
  history_.Record(NowMs(), s, g);
}

Json PoolMonitor::Status(int64_t since_ms) const {
  const runtime::SchedulerStats s = src_.stats ? src_.stats() : runtime::SchedulerStats{};
  const GenerationTotals g = src_.totals ? src_.totals() : GenerationTotals{};
  Json j;
  j["object"] = "pool";
  j["now_ms"] = NowMs();
  j["started_ms"] = started_ms_;
  std::unique_lock<std::mutex> engine_lock(mu_);
  const ProgressSnapshot progress = src_.progress ? src_.progress->Snapshot() : ProgressSnapshot{};
  j["state"] = src_.progress ? LoadStateName(progress.state) : "ready";
  j["progress"] = src_.progress ? ProgressJson(progress) : Json(nullptr);
  j["model"] = model_.is_null() ? Json(nullptr) : model_;
  const cluster::PoolView view = src_.engine ? src_.engine->View() : cluster::PoolView{};
  const Json plan = src_.engine && src_.engine->can_reform() ? EnginePlan(*src_.engine) : plan_;
  j["plan"] = plan.is_null() ? Json(nullptr) : plan;
  j["pool"] = PoolState(view, s);
  j["nodes"] = src_.engine != nullptr && !plan.is_null()
                   ? NodeStatus(*src_.engine, plan, s, g.last_error, view)
                   : Json::array();
  j["links"] = LinksJson(src_.link, plan_);
  engine_lock.unlock();
  j["engine"] = {{"ok", g.last_error.empty()},
                 {"error", g.last_error.empty() ? Json(nullptr) : Json(g.last_error)}};
  Json totals;
  totals["requests"] = s.requests_total;
  totals["cancelled"] = s.cancelled_total;
  totals["generations"] = g.generations;
  totals["prompt_tokens"] = s.prompt_tokens_total;
  totals["cached_tokens"] = s.cached_tokens_total;
  totals["generated_tokens"] = s.generated_tokens_total;
  totals["steps"] = s.steps_total;
  j["totals"] = totals;
  std::lock_guard<std::mutex> lock(mu_);
  const auto latest = history_.latest();
  j["live"] = latest ? LiveHistory::ToJson(*latest) : Json(nullptr);
  Json h;
  h["interval_ms"] = opt_.interval_ms;
  h["capacity"] = history_.capacity();
  h["samples"] = Json::array();
  for (const LiveSample& x : history_.Since(since_ms))
    h["samples"].push_back(LiveHistory::ToJson(x));
  j["history"] = h;
  return j;
}

}  // namespace shoal::server
