// The one place a model is opened for evaluation (by the CLI and the server): on this machine
// (model + thread pool + session), or pooled over several nodes (--nodes / --hostfile / --local
// N): then this process is rank 0 and holds its shard; the Executor drives the others.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/progress_board.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "cluster/discoverer.h"
#include "cluster/job.h"
#include "cluster/membership.h"
#include "comm/group.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "runtime/executor.h"
#include "runtime/session.h"

namespace shoal::cluster {

class LocalWorkers;

struct ClusterOptions {
  std::vector<std::string> nodes;  // worker addresses HOST:PORT, ranks 1..n in order
  std::string hostfile;            // one HOST:PORT a line ('#' comments)
  int local = 0;                   // start this many workers on this machine
  bool mpi = false;                // the ranks of an MPI job (mpirun / srun)
  std::string transport = "tcp";   // for --local: tcp or shm
  std::string local_mem;           // memory each local worker offers (e.g. 300M)
  std::string local_model;         // the model file local workers open (default: rank 0's)
  std::string secret_file;
  int stages = 1;
  std::string experts = "auto";  // MoE: whole experts per node, or every expert's columns
  int64_t reserve_mib = 256;     // memory each node keeps beyond its weights and KV cache
  int io_timeout_ms = 30000;
  bool busy_poll = false;              // spin while waiting on peers
  std::string link_security = "seal";  // tcp frames: seal, auth or none (docs/security.md)
  MembershipOptions heartbeats;        // --nodes / --hostfile pools: health and failover
  int ready_wait_ms = 3000;            // at start and on a re-form: how long to wait for each node
  // A node that joins a running pool is taken when the cost model predicts decode this much
  // faster with it (link bandwidth assumed link_gbits; latency from the heartbeats).
  double rebalance_margin = 0.10;
  double link_gbits = 10.0;
  std::string discover;  // multicast GROUP:PORT to find workers on (cluster/discoverer.h); "": not
  bool pooled() const {
    return !nodes.empty() || !hostfile.empty() || !discover.empty() || local > 0 || mpi;
  }
};

// The pool as rank 0 sees it now (for /v1/pool, `shoal nodes`, the dashboard).
struct PoolView {
  uint64_t epoch = 0;                // the job the pool runs (1 the first; +1 each re-form)
  std::string state;                 // "serving", "re-forming", "waiting for nodes"
  std::string detail;                // why (the last failure, what is missing)
  std::vector<std::string> members;  // the current job's workers, rank order (rank i+1)
  std::vector<NodeView> nodes;       // every watched node (membership)
  std::string plan_json;             // the current plan (parallel::Plan::ToJson); "" alone
  int64_t reforms = 0;               // re-forms after the first job
  double last_reform_ms = 0;         // how long the last one took (plan, load, not replay)
  std::string last_reform_reason;
  // The rolling upgrade (Engine::StartUpgrade): idle, running, done or failed.
  std::string upgrade_state = "idle";
  std::string upgrade_node;                 // the node being upgraded
  int upgrade_done = 0, upgrade_total = 0;  // nodes
  std::string upgrade_detail;               // the step, the new version, or why it failed
};

struct Engine {
  ~Engine();
  // Pools whose nodes are watched (--nodes / --hostfile): re-forms the pool over the nodes that
  // answer now, not draining: tears the old job down (cleanly when `why` is Ok: a planned
  // change), plans again, every node loads its new slices, and returns the new executor (its KV
  // cache empty: the caller replays its sequences). `why` not Ok: the old job failed. With Ok
  // and the same nodes as now, nothing happens (returns nullptr). Unavailable when
  // the nodes that answer cannot hold the model (or none answers): the caller waits and calls
  // again. Called on the thread that drives the engine.
  StatusOr<runtime::Executor*> Reform(const Status& why);
  bool can_reform() const { return membership != nullptr; }
  PoolView View() const;
  // Runs f with rank 0's model held still (a re-form waits); false when there is none now (the
  // pool is re-forming). For other threads than the one driving the engine.
  bool WithModel(const std::function<void(const model::Model&)>& f) const;
  // Takes a node out of the pool at the next step boundary (the pool re-forms without it);
  // `drain` false undoes it. NotFound for a node this pool does not watch.
  Status Drain(const std::string& address, bool drain);
  // Called (on the membership thread) when the pool should re-form: a member was lost (its job
  // is aborted first), or a node joined, rejoined or is to be drained.
  void SetOnPoolChange(std::function<void()> f);
  // A rolling upgrade of every answering worker to `binary` (an absolute path on this machine),
  // one node at a time while the pool serves: the node is drained (the pool re-forms without
  // it), sent the binary (cluster/upgrade.h), comes back as a new process reporting the new
  // version, and is let back (the pool re-forms with it). Runs on a thread of its own; progress
  // in View(). InvalidArgument while one runs, or for a pool whose nodes are not watched.
  Status StartUpgrade(const std::string& binary);

  std::unique_ptr<model::Model> model;  // pooled: rank 0's shard (tokenizer, config whole)
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<runtime::Session> session;
  std::unique_ptr<LocalWorkers> workers;  // --local
  std::unique_ptr<comm::Group> group;     // pooled
  std::unique_ptr<Job> job;               // pooled
  std::unique_ptr<runtime::Executor> executor;
  int64_t n_ctx = 0;
  std::unique_ptr<Membership> membership;                  // --nodes / --hostfile / --discover
  std::unique_ptr<Discoverer> discoverer;                  // --discover: adds the workers it finds
  std::shared_ptr<const model::Tokenizer> tokenizer_keep;  // outlives re-formed models

  // For Reform (set by OpenEngine).
  struct ReformState;
  std::unique_ptr<ReformState> reform;
  std::thread upgrade_thread;  // StartUpgrade's; joined before the membership goes

  const model::Tokenizer& tokenizer() const { return *tokenizer_keep; }
  int32_t n_vocab() const;
  uint64_t weight_bytes() const;  // this process's
  StatusOr<std::span<const float>> Eval(std::span<const int32_t> tokens, bool all_logits) {
    return executor->Eval(tokens, all_logits);
  }
  Status Reset() { return executor->Reset(); }
  int32_t n_past() const { return executor->n_past(); }
  int n_nodes() const { return group ? group->size() : 1; }
};

// n_threads <= 0: one per core. n_ctx <= 0: the model's training context, at most 4096.
// max_sequences: how many sequences of up to n_ctx tokens the paged KV cache holds at once (the
// server's --parallel; 1 for one request at a time). Alone, the cache is cut to three quarters of
// the machine's available memory (never below one sequence); pooled, every node allocates the
// same number of blocks and checks them against its own memory.
// progress (optional): where the loading's steps are reported (base/progress_board.h).
// Fails with a clear Status on a missing or corrupt file, an unsupported model, or a model (plus
// its KV cache) larger than this machine's memory (or, pooled, than the pool's).
StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& path, int n_threads, int64_t n_ctx,
                                             const ClusterOptions& cluster = {},
                                             int32_t max_sequences = 1,
                                             ProgressBoard* progress = nullptr);

}  // namespace shoal::cluster
