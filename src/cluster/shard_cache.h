// The shard cache of a node (docs/model-identity.md): one folder per entry,
// <cache>/<model id>-<16 hex of its ranges>/, holding the model's files as sparse files with only
// the shard's byte ranges written, and manifest.json (cluster/shard_manifest.h). Entries are
// written in a temporary folder and renamed into place once verified; verified again before each
// use; evicted least recently used first to keep the folder under a size limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/shard_manifest.h"

namespace shoal::cluster {

inline constexpr uint64_t kDefaultCacheMaxBytes = uint64_t{64} << 30;

// "<model id hex>-<16 hex digits of a digest of the ranges>".
std::string EntryName(const gguf::Digest& model_id, const std::vector<ByteRange>& ranges);
// True for names EntryName makes (hex digits and one dash, exact lengths).
bool ValidEntryName(std::string_view name);

// Reads the entry's manifest and checks the entry against it: each file a regular file (not a
// link) of the listed size, each range's bytes hashing to its digest. Corrupt naming what failed.
StatusOr<Manifest> VerifyEntry(const std::string& entry_dir);

// The folders of the entries for `model_id`, most recently used first.
std::vector<std::string> EntriesOf(const std::string& cache_dir, const gguf::Digest& model_id);

// Marks an entry used now (the time eviction orders by).
void TouchEntry(const std::string& entry_dir);

// Bytes the cache's entries and temporary folders occupy on disk (sparse files count what they
// hold).
uint64_t CacheBytes(const std::string& cache_dir);

// The most a new entry could take: min(max_bytes, what the cache holds + the disk's free space).
uint64_t CacheRoom(const std::string& cache_dir, uint64_t max_bytes);

// Removes whole entries, least recently used first and never `keep_entry` (a folder name), until
// the cache plus `incoming` bytes is at most `max_bytes`. ResourceExhausted when it cannot.
Status MakeRoom(const std::string& cache_dir, uint64_t incoming, uint64_t max_bytes,
                const std::string& keep_entry);

// Parses "64G", "500M", "1T", "0" (bytes, powers of 1024).
StatusOr<uint64_t> ParseByteSize(const std::string& text);

}  // namespace shoal::cluster
