// The manifest of one shard-cache entry (docs/model-identity.md): which model it holds, its files
// and the byte ranges received from rank 0 with the XXH3-128 digest of each. Parsed from disk, so
// it is checked like wire data: the parser refuses anything out of range, unordered or pointing
// outside the entry's folder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "format/identity.h"

namespace shoal::cluster {

inline constexpr uint64_t kMaxRanges = uint64_t{1} << 24;     // per shard
inline constexpr uint64_t kMaxPartBytes = uint64_t{1} << 50;  // one file of a model
inline constexpr size_t kMaxManifestBytes = size_t{1} << 30;

// A byte range of part `part` of a model (0 for a single file). 24 bytes on the wire.
struct ByteRange {
  uint32_t part = 0;
  uint32_t pad = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};
static_assert(sizeof(ByteRange) == 24);

// Sorted by (part, offset), adjacent and overlapping ranges joined, empty ones dropped.
std::vector<ByteRange> MergeRanges(std::vector<ByteRange> r);
// Ok when `r` is sorted by (part, offset), disjoint, non-empty and inside `part_bytes`.
Status CheckRanges(const std::vector<ByteRange>& r, const std::vector<uint64_t>& part_bytes);
// True when every range of `need` lies inside one range of `have` (both merged).
bool Covers(const std::vector<ByteRange>& have, const std::vector<ByteRange>& need);

// The file name of part i of n inside an entry: model.gguf, or model-0000i-of-0000n.gguf.
std::string PartFileName(int i, int n);

struct Manifest {
  gguf::Digest model_id;
  std::vector<uint64_t> part_bytes;   // the size of each of the model's files
  std::vector<ByteRange> ranges;      // CheckRanges holds
  std::vector<gguf::Digest> digests;  // one per range, of its bytes
};

std::string ManifestJson(const Manifest& m);
StatusOr<Manifest> ParseManifest(std::string_view text);

}  // namespace shoal::cluster
