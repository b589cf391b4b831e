// Weights for a node that has no copy of the model (or another model at its path): rank 0 sends
// each such node exactly the bytes of its shard (every file's GGUF header and its slices' byte
// ranges, from a single file or a split set), once. The node writes them into sparse files of the
// model's file sizes in a new entry of its shard cache (cluster/shard_cache.h), checks each range
// against its XXH3-128 digest from rank 0, fsyncs and renames the entry into place: the result is
// an ordinary GGUF (or split set) that loads with the ordinary loader, holes where other nodes'
// slices are. The next job verifies the entry again and reuses it.
//
// Messages (collectives in which every rank takes part, so none waits in silence while another
// receives): GatherV to rank 0 of one u64 per rank (0: I have the model; else: send me my shard,
// I have room for this many bytes), then rounds of a Broadcast of {i32 target, u32 kind, u64
// bytes} from rank 0, each followed by a Send of `bytes` to `target` for kinds 1-3:
//   1 its byte ranges ({u32 part, u32 0, u64 offset, u64 length}, sorted by part and offset)
//   2 data (the ranges' bytes in order, at most 4 MiB a round)
//   3 the XXH3-128 digest of each range (16 bytes each, high half first), after all data
//   4 no room: the shard is `bytes` long, more than the node offered (no payload)
//   0 ends the transfers.
// Bounds checked by the receiver: at most 2^24 ranges, sorted, disjoint, inside the model's files
// (sizes from the job JSON); data and digests exactly as announced.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/shard_cache.h"
#include "cluster/shard_manifest.h"
#include "comm/group.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"

namespace shoal::cluster {

// The byte ranges of a GGUF (single file or split set) that a shard reads: each file's header
// (everything before its first tensor's data) and each held slice, merged and sorted.
StatusOr<std::vector<ByteRange>> ShardByteRanges(const gguf::File& file,
                                                 const model::ModelConfig& config,
                                                 const model::Shard& shard);

// Where a node keeps shipped weights: $SHOAL_CACHE/shards, $XDG_CACHE_HOME/shoal/shards, or
// ~/.cache/shoal/shards.
std::string DefaultShardCacheDir();

// A verified cached copy of model `model_id` that holds every range `shard` needs (the path of
// its first file); NotFound otherwise. Entries that fail verification are removed (and *note says
// so).
StatusOr<std::string> CachedModel(const std::string& cache_dir, const gguf::Digest& model_id,
                                  const model::Shard& shard, std::string* note = nullptr);

// Bytes of its shard sent to `rank` so far, of `total`.
using ShipProgressFn = std::function<void(int rank, uint64_t sent_bytes, uint64_t total_bytes)>;

// Rank 0: receives every rank's request and sends each requesting rank its shard's bytes from
// `file` (the model rank 0 runs), with `shards[r]` the shard of rank r. on_progress (optional)
// hears of every requesting rank that has room (0 of its total) before any is sent, then after
// each chunk sent to it.
Status SendShards(comm::Group& g, const gguf::File& file, const model::ModelConfig& config,
                  const std::vector<model::Shard>& shards, const ShipProgressFn& on_progress = {});

struct ReceiveOptions {
  uint64_t room_bytes = 0;  // 0: this rank does not need its shard
  std::string cache_dir;
  uint64_t cache_max_bytes = kDefaultCacheMaxBytes;
  gguf::Digest model_id;
  std::vector<uint64_t> part_bytes;  // the model's file sizes, from the job
  std::string why;                   // why this node needs it, for errors ("no copy at PATH")
};

// Ranks > 0: says whether this rank needs its shard and takes part in the transfers. Returns a
// protocol error (the group is then unusable); else sets *path to the cached model it received
// (need), or leaves it, or to why the shard could not be received or kept (a local failure the
// caller reports through the job's load agreement).
Status ReceiveShard(comm::Group& g, const ReceiveOptions& o, StatusOr<std::string>* path);

}  // namespace shoal::cluster
