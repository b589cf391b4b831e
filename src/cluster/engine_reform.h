// The parts of cluster::Engine that keep a pool alive (internal to engine.cc and
// engine_reform.cc): its health monitor, the nodes that can take part now, and what a re-form
// needs to start the next job like the first.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "cluster/engine.h"
#include "comm/tcp/tcp.h"

namespace shoal::cluster {

struct Engine::ReformState {
  std::string path;
  NodeOffer self;
  JobOptions job;                       // the first job's options (node names and epoch change)
  comm::tcp::Options link;              // secret, link security, timeouts
  std::vector<std::string> configured;  // the nodes named by the user, in their order
  int ready_wait_ms = 3000;
  double rebalance_margin = 0.10;  // a joining node is taken when the pool gets this much faster
  double link_gbits = 10.0;        // the links' bandwidth the cost model assumes
  ShardKeeper keeper;              // rank 0's weights between jobs (used when its shard stays)

  mutable std::mutex mu;  // guards everything below (the membership thread reads it)
  std::vector<std::string> members;
  bool broken = false;     // a member was lost: the current job is aborted
  std::string broken_why;  // which, and why
  uint64_t epoch = 0;
  std::string state = "serving", detail;
  std::string plan_json;
  int64_t reforms = 0;
  double last_reform_ms = 0;
  std::string last_reform_reason;
  std::function<void()> on_change;
  bool force_join = false;            // the next re-form takes a returning node whatever the margin
  std::atomic<bool> stopping{false};  // the engine is going: an upgrade in progress gives up
  std::string upgrade_state = "idle", upgrade_node, upgrade_detail;
  int upgrade_done = 0, upgrade_total = 0;
  std::string failed_key;  // the node set of the last failed re-form, and why it failed
  Status failed;
  std::chrono::steady_clock::time_point failed_at;
};

// Creates e->reform and e->membership (heartbeats to every node in `nodes`).
Status StartMembership(Engine* e, const std::vector<std::string>& nodes,
                       const comm::tcp::Options& link, const ClusterOptions& c);
// The nodes of `nodes` (in that order) that answer heartbeats and are in no job, waiting up to
// wait_ms in all, and no longer for a node silent for three heartbeats (at `startup`, a node
// never heard is waited for the whole time, and one answering from another pool's job up to
// 3 * kRank0SilentMs or 12 heartbeats, the time a worker takes to leave the job of a rank 0 gone
// silent).
// *busy (if given): the nodes that answered and were still in another job.
std::vector<std::string> ReadyNodes(const Membership& m, const std::vector<std::string>& nodes,
                                    int wait_ms, bool startup,
                                    std::vector<std::string>* busy = nullptr);
// Starts e->discoverer on multicast `group`: every worker it finds (now or later) is watched by
// e->membership. Waits wait_ms (at least two announcements) and appends the workers found by
// then to *nodes; NotFound when *nodes is still empty.
Status StartDiscovery(Engine* e, const std::string& group, const std::string& secret, int wait_ms,
                      std::vector<std::string>* nodes);
void SetMembers(Engine* e, const std::vector<std::string>& members);
void SaveForReform(Engine* e, const std::string& path, const NodeOffer& self,
                   const JobOptions& job);

}  // namespace shoal::cluster
