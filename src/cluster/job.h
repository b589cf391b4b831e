// One job across a comm::Group: rank 0 plans the split from every node's report, sends the plan,
// every rank loads its shard of its own copy of the GGUF, and the model then runs through a
// runtime::Executor on rank 0 while the other ranks serve it.
//
// Setup messages (after the transport's own handshake), all collectives over the group:
//   1 GatherV to rank 0: each rank's NodeReport (fixed 24 bytes, little-endian)
//   2 Broadcast: u64 length (bounded by kMaxJobBytes), then the job JSON (cluster/job_parse.h):
//     {"ok", "error", "model_path", "model_id", "model_bytes", "model_parts", "n_ctx", "plan"};
//     model_id is the model's content identity (format/identity.h); ok = false ends the job
//   3 the shard transfers for nodes without the model (cluster/transfer.h)
//   4 GatherV to rank 0: each rank's LoadReport (u32 status code + 252 bytes of message)
//   5 Broadcast: u32 go (1) or abort (0)
// then runtime::Executor's commands until Finish. See docs/wire-protocol.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/progress_board.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "cluster/shard_cache.h"
#include "cluster/shard_keeper.h"
#include "comm/group.h"
#include "model/model.h"
#include "parallel/plan.h"
#include "runtime/executor.h"
#include "runtime/session.h"

namespace shoal::cluster {

inline constexpr uint64_t kMaxJobBytes = uint64_t{16} << 20;

// What a node offers: sent by every rank at the start of a job.
struct NodeOffer {
  uint64_t memory_bytes = 0;  // 0: this machine's available memory
  int32_t threads = 0;        // threads its pool computes with
  double bandwidth_gbs = 0;   // measured memory bandwidth; 0 unknown
};

struct JobOptions {
  std::string model_path;
  int32_t n_ctx = 4096;
  int stages = 1;
  parallel::ExpertSplit expert_split = parallel::ExpertSplit::kAuto;  // MoE models
  uint64_t reserve_bytes = uint64_t{256} << 20;  // per node, beyond weights and KV cache
  std::vector<std::string> node_names;           // for the plan and errors; rank order
  // KV cache blocks every rank allocates for the scheduler (runtime::KvBlocksFor; the same on
  // every rank, since rank 0's steps name block ids); 0: one sequence of n_ctx.
  int32_t kv_blocks = 0;
  // The job's I/O timeout for the workers' commands (they wait for the next one with none);
  // < 0: the workers keep their group's timeout throughout.
  int io_timeout_ms = -1;
  // Which job this is (heartbeats name it; a node still in an older job of the pool leaves it).
  uint64_t pool_id = 0;
  uint64_t epoch = 0;
  int32_t heartbeat_ms = 0;  // how often rank 0 pings (with a pool id); 0: unknown
  // Where rank 0 reports the shipping of shards ("ship", bytes per node), the mapping of its own
  // shard ("map", node 0) and the nodes' load reports ("load", per node). Optional.
  ProgressBoard* progress = nullptr;
  // Rank 0's weights from its previous job: used when the plan gives rank 0 the same shard of the
  // same model, released otherwise. Its copied bytes count as memory rank 0 offers. Optional.
  ShardKeeper* keeper = nullptr;
};

// Rank 0's handle on a running job.
struct Job {
  parallel::Plan plan;
  gguf::Digest model_id;                     // the model's content identity
  std::unique_ptr<comm::Group> stage_group;  // several pipeline stages: rank 0's stage
  std::unique_ptr<model::Model> model;       // rank 0's shard (tokenizer and config are whole)
  std::unique_ptr<runtime::Session> session;
  std::unique_ptr<runtime::Executor> executor;
};

// Rank 0. The plan is made from the nodes' offers; a plan that does not fit, a node that cannot
// load its shard (missing file, another model, out of memory) ends the job on every rank with an
// error naming the node.
StatusOr<std::unique_ptr<Job>> StartJob(comm::Group& group, ThreadPool& pool, const NodeOffer& self,
                                        const JobOptions& options);

// Ranks > 0: takes part in one job until rank 0 finishes it (Ok), aborts it during setup (Ok:
// rank 0 reports why) or the group fails (its error). `model_path` overrides the job's path
// (each node's own copy); empty: the path rank 0 sent. The node computes with its copy only when
// the copy's content identity is rank 0's; a node without the model (or with another model at
// that path) gets its shard's bytes from rank 0 when its shard cache `cache_dir` (at most
// `cache_max_bytes`) has room, kept for the next job (cluster/transfer.h); else the job ends
// with an error naming both identities.
// A node's side of an upgrade job (cluster/upgrade.h): where its executable is, and the staged
// new binary once verified.
struct UpgradeSlot {
  std::string self_exe;  // empty: this node refuses upgrades
  std::string staged;    // set when an upgrade job succeeded: execute it (ExecUpgrade)
};

// Rank 0 of a group of rank 0 and one node: the first messages of a job that is an upgrade.
Status SendUpgradeJob(comm::Group& g, uint64_t bytes, const gguf::Digest& digest);

// `on_job` (optional) learns the job's pool id, epoch and rank 0's heartbeat interval as soon as
// rank 0 sends them. `upgrade` (optional): an upgrade job stages the new binary there (without
// it, upgrades are refused).
// `keeper` (optional): the node's weights are kept there when the job ends, and the next job
// whose plan gives this node the same shard of the same model uses them without loading (its
// copied bytes count as memory the node offers; another shard or model releases them first).
Status ServeJob(
    comm::Group& group, ThreadPool& pool, const NodeOffer& self, const std::string& model_path,
    const std::string& cache_dir, uint64_t cache_max_bytes = kDefaultCacheMaxBytes,
    const std::function<void(uint64_t pool, uint64_t epoch, int heartbeat_ms)>& on_job = {},
    UpgradeSlot* upgrade = nullptr, ShardKeeper* keeper = nullptr);

}  // namespace shoal::cluster
