// Weights for a node that has no copy of the model: rank 0 sends each such node exactly the bytes
// of its shard (the GGUF header and its slices' byte ranges), once. The node writes them into a
// sparse file of the model's size in its cache directory, at their own offsets, so the result is
// an ordinary GGUF that loads with the ordinary loader (holes where other nodes' slices are);
// a manifest lists the ranges it holds, verified by a SHA-256 digest, so the next job reuses it.
//
// On the wire, after the job JSON (every rank takes part, so none waits in silence while another
// receives): GatherV to rank 0 of one u32 per rank (1: send me my shard), then rounds of a
// Broadcast of {i32 target, u32 kind, u64 bytes} from rank 0, each but the last followed by a
// Send of `bytes` to `target`: kind 1 its byte ranges (u64 offset, u64 length pairs), kind 2 data
// (the ranges' bytes in order, at most 4 MiB a round), kind 3 the SHA-256 of all its data; kind 0
// ends the transfers. Bounds checked by the receiver: at most 2^24 ranges, sorted, disjoint, inside
// the model's size (from the job JSON); data and digest exactly as announced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/group.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"

namespace shoal::cluster {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

// The byte ranges of a single-file GGUF that a shard reads: the header (everything before the
// first tensor's data) and each held slice, merged and sorted. Unimplemented for split sets.
StatusOr<std::vector<ByteRange>> ShardByteRanges(const gguf::File& file,
                                                 const model::ModelConfig& config,
                                                 const model::Shard& shard);

// Where a node keeps shipped weights: $SHOAL_CACHE/shards, $XDG_CACHE_HOME/shoal/shards, or
// ~/.cache/shoal/shards.
std::string DefaultShardCacheDir();

// The cached copy of model `model_id` (its path) when it exists and its manifest covers every
// range `shard` needs; NotFound otherwise.
StatusOr<std::string> CachedModel(const std::string& cache_dir, const std::string& model_id,
                                  const model::Shard& shard);

// Rank 0: receives every rank's need flag and sends each needing rank its shard's bytes from
// `file` (the model rank 0 runs), with `shards[r]` the shard of rank r.
Status SendShards(comm::Group& g, const gguf::File& file, const model::ModelConfig& config,
                  const std::vector<model::Shard>& shards);

// Ranks > 0: says whether this rank needs its shard and takes part in the transfers. Returns a
// protocol error (the group is then unusable); else sets *path to the cached model it received
// (need), or to `have_path`, or to why the cache could not be written (a local failure the caller
// reports through the job's load agreement).
Status ReceiveShard(comm::Group& g, bool need, const std::string& have_path,
                    const std::string& cache_dir, const std::string& model_id, uint64_t model_bytes,
                    StatusOr<std::string>* path);

}  // namespace shoal::cluster
