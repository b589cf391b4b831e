// A node of a pool (`shoal worker`): waits for a rank 0, authenticates it with the cluster secret,
// holds its shard of the model for the job, and waits for the next job. Also the child of a
// `--local N` pool (announcing its port on a descriptor, or joining a shared-memory group).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace shoal::cluster {

struct WorkerOptions {
  std::string listen;             // HOST:PORT to listen on (port 0: any)
  std::string model;              // this node's copy of the GGUF (empty: rank 0's path)
  std::string mem;                // memory offered to the pool, e.g. 12G (empty: available)
  std::string shm;                // join this shared-memory group as `rank` instead of listening
  std::string cache;              // where received weights are kept (empty: DefaultShardCacheDir())
  std::string cache_max = "64G";  // most disk the shard cache may take (LRU eviction)
  int rank = -1;
  int n_threads = 0;     // 0: one per core
  double bandwidth = 0;  // GB/s, for the plan
  bool once = false;     // serve one job, then return
  int port_fd = -1;      // >= 0: write the port to this descriptor and close it
  std::string secret_file;
  int io_timeout_ms = 30000;
  bool busy_poll = false;
  std::string link_security = "seal";  // tcp frames: seal, auth or none (docs/security.md)
  std::string version;                 // shoal's build, reported in heartbeats and announced
  bool heartbeats = true;              // answer rank 0's heartbeats on UDP (the listen port)
  // Keep the shard's weights in memory between jobs: the next job that gives this node the same
  // shard of the same model (a restarted rank 0, a pool re-formed with the same plan) starts
  // without loading it (cluster/shard_keeper.h). false: released when each job ends.
  bool keep_weights = true;
  // This process's arguments, to execute a new binary with after `shoal upgrade` (empty: the
  // worker refuses upgrades).
  std::vector<std::string> argv;
  // Discovery (cluster/announcer.h): while the worker runs, announce its address to this
  // multicast GROUP:PORT ("": not) and to these unicast HOST:PORT targets.
  std::string announce;
  std::vector<std::string> announce_to;
  int announce_interval_ms = 1000;
};

// Serves jobs until an error (with `once`, or before the first job) or forever. Over tcp it
// also answers heartbeats (cluster/heartbeat.h) on the UDP port of its listener, from a thread of
// its own: a job whose pool has moved on to a newer epoch (rank 0 re-formed the pool while this
// node was blocked on a peer that died) is ended at once, so the node is ready for the next.
Status ServeWorker(const WorkerOptions& o);

}  // namespace shoal::cluster
