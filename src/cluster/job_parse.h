// The job message rank 0 broadcasts (step 2 of cluster/job.h), as text and parsed. Its fields
// come from the wire, so the parser bounds every one and refuses inconsistent ones.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "format/identity.h"

namespace shoal::cluster {

inline constexpr size_t kMaxModelPathBytes = 4096;
inline constexpr int32_t kMaxJobContext = 1 << 24;

struct JobMessage {
  bool ok = false;
  std::string error;  // ok == false: why rank 0 ended the job
  // ok == false with upgrade_bytes > 0: not a model job but a new shoal binary of that many
  // bytes (at most cluster::kMaxBinaryBytes) with this XXH3-128 digest (cluster/upgrade.h).
  uint64_t upgrade_bytes = 0;
  gguf::Digest upgrade_digest;
  std::string model_path;            // rank 0's path
  gguf::Digest model_id;             // the content identity (format/identity.h)
  std::vector<uint64_t> part_bytes;  // the size of each of the model's files
  int32_t n_ctx = 0;
  int32_t kv_blocks = 0;       // KV cache blocks every rank allocates (the scheduler's); 0: n_ctx
  int32_t io_timeout_ms = -1;  // the job's limit on a silent peer during a command; -1: default
  uint64_t pool = 0;           // rank 0's pool id and this job's epoch in it (heartbeats); 0: none
  uint64_t epoch = 0;
  int32_t heartbeat_ms = 0;  // how often rank 0 pings the pool's nodes; 0: unknown (older rank 0)
  nlohmann::json plan;       // parallel::Plan::ToJson(); parsed by the caller
};

std::string JobText(const JobMessage& m);
// `group_size`: the ranks the plan must have.
StatusOr<JobMessage> ParseJob(std::string_view text, int group_size);

}  // namespace shoal::cluster
