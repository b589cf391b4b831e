// What GET /v1/pool answers (docs/dashboard.md): the model, the plan (the value `shoal plan
// --json` prints), each node with what the server knows of it, the engine's health, and the live
// figures with their last ten minutes, sampled once a second by a thread of its own. Memory is
// bounded: the history is a ring buffer of `capacity` samples.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cluster/engine.h"
#include "runtime/scheduler.h"
#include "server/live_history.h"
#include "server/pool_progress.h"

namespace shoal::server {

struct PoolSources {
  const cluster::Engine* engine = nullptr;         // nullptr: no model, plan or nodes sections
  std::function<runtime::SchedulerStats()> stats;  // the scheduler's; may be empty
  std::function<GenerationTotals()> totals;        // finished generations; may be empty
  std::string model_id;
  // POST /v1/pool/drain: takes a node out of the pool (true) or lets it back (false); empty:
  // the pool's nodes are not watched (the endpoint answers 400).
  std::function<Status(const std::string& node, bool drain)> drain;
  // POST /v1/pool/upgrade: starts a rolling upgrade to the binary at this path.
  std::function<Status(const std::string& binary)> upgrade;
  const ProgressBoard* progress = nullptr;  // the start's steps (`progress`); may be null
  LinkInfo link;                            // how rank 0 reaches the workers (`links`)
};

struct PoolMonitorOptions {
  int interval_ms = 1000;  // one sample each
  size_t capacity = 600;   // samples kept
};

// The model card: architecture, parameters, weight types, context, KV bytes per token.
nlohmann::ordered_json ModelCard(const model::Model& m, int64_t n_ctx, const std::string& model_id);
// The engine's plan: a pool's (the job's), or for one machine the plan `shoal plan -m MODEL -c
// CTX` makes for this machine alone.
nlohmann::ordered_json EnginePlan(const cluster::Engine& e);
// Every node of the plan with its status (up / down / unknown) as this process can tell it.
// `engine_error`: the last error the engine reported (empty: none).
// `view`: the pool's health (heartbeats) where its nodes are watched.
nlohmann::ordered_json NodeStatus(const cluster::Engine& e, const nlohmann::ordered_json& plan,
                                  const runtime::SchedulerStats& s, const std::string& engine_error,
                                  const cluster::PoolView& view);
// One watched node: state, reason, and what its heartbeats say (version, memory, load, uptime).
nlohmann::ordered_json WatchedNode(const cluster::NodeView& v);
// The pool's "pool" object: epoch, state, members, re-forms and their timings, watched nodes.
nlohmann::ordered_json PoolState(const cluster::PoolView& v, const runtime::SchedulerStats& s);

class PoolMonitor {
 public:
  // Takes the first reading and starts the sampling thread.
  PoolMonitor(PoolSources sources, PoolMonitorOptions options = {});
  ~PoolMonitor();  // stops and joins it
  PoolMonitor(const PoolMonitor&) = delete;
  PoolMonitor& operator=(const PoolMonitor&) = delete;

  // The whole answer; history samples newer than since_ms only (since_ms < 0: all of them).
  nlohmann::ordered_json Status(int64_t since_ms) const;
  // The engine, once it is open (a server answers while it loads): the model card, plan and
  // nodes appear.
  void SetEngine(const cluster::Engine* engine,
                 std::function<shoal::Status(const std::string& node, bool drain)> drain = {},
                 std::function<shoal::Status(const std::string& binary)> upgrade = {});
  shoal::Status Upgrade(const std::string& binary) const;
  // POST /v1/pool/drain: the engine's Drain; InvalidArgument when the nodes are not watched.
  shoal::Status Drain(const std::string& node, bool drain) const;

 private:
  void Loop();
  void Sample();

  PoolSources src_;
  PoolMonitorOptions opt_;
  nlohmann::ordered_json model_, plan_;  // fixed once the engine is open (under mu_)
  int64_t started_ms_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  LiveHistory history_;
  std::thread thread_;
};

}  // namespace shoal::server
