// A GGUF model's content identity: an XXH3-128 digest of its metadata (keys, types and values,
// in key order, without the layout keys general.alignment and split.*) and of every tensor's
// name, type, shape and bytes (in name order). The same model laid out differently (another
// alignment, another tensor order, one file or a split set) has the same identity; any other
// weight, type, shape or metadata value gives another. See docs/model-identity.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/progress_board.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "format/gguf.h"

namespace shoal::gguf {

// 128 bits, printed as 32 lowercase hex digits (high 64 bits first).
struct Digest {
  uint64_t hi = 0, lo = 0;
  bool operator==(const Digest&) const = default;
  std::string Hex() const;
  std::string Short() const { return Hex().substr(0, 12); }
};
// Parses exactly 32 hex digits; InvalidArgument otherwise.
StatusOr<Digest> ParseDigest(std::string_view hex);

// XXH3-128 of a byte range.
Digest HashBytes(const void* data, size_t bytes);

struct TensorDigest {
  std::string name;
  Digest digest;  // of name, type, shape and data
};

struct Identity {
  Digest model;                       // the content identity
  Digest metadata;                    // of the canonical metadata alone
  std::vector<TensorDigest> tensors;  // sorted by name
  uint64_t tensor_bytes = 0;          // the bytes hashed
  const Digest* FindTensor(std::string_view name) const;
};

// Hashes `file` in parallel over `pool` (tensors cut into 16 MiB pieces). `on_progress`
// (optional) learns the tensor bytes hashed of all of them as pieces finish (from one thread at a
// time, never decreasing, the last call with done == total).
Identity ComputeIdentity(const File& file, ThreadPool& pool, const ProgressFn& on_progress = {});

// The model digest from the metadata digest and the tensors' digests (sorted by name): how
// ComputeIdentity combines them, used again to check a cached identity.
Digest CombineIdentity(const Digest& metadata, const std::vector<TensorDigest>& tensors);

}  // namespace shoal::gguf
