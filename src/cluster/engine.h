// The one place a model is opened for evaluation (by the CLI and the server): on this machine
// (model + thread pool + session), or pooled over several nodes (--nodes / --hostfile / --local
// N): then this process is rank 0 and holds its shard; the Executor drives the others.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/progress_board.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "cluster/job.h"
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
  bool pooled() const { return !nodes.empty() || !hostfile.empty() || local > 0 || mpi; }
};

struct Engine {
  ~Engine();
  std::unique_ptr<model::Model> model;  // pooled: rank 0's shard (tokenizer, config whole)
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<runtime::Session> session;
  std::unique_ptr<LocalWorkers> workers;  // --local
  std::unique_ptr<comm::Group> group;     // pooled
  std::unique_ptr<Job> job;               // pooled
  std::unique_ptr<runtime::Executor> executor;
  int64_t n_ctx = 0;

  const model::Tokenizer& tokenizer() const { return model->tokenizer(); }
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
