// A model file's content identity, computed once and kept in a small file of the cache directory,
// keyed by (device, inode, size, mtime in ns) of each of the model's files: when any of them
// changes the identity is computed again. A cache file that cannot be read or does not check out
// is ignored and written again.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/thread_pool.h"
#include "format/gguf.h"
#include "format/identity.h"

namespace shoal::gguf {

// The cache folder `sub` of shoal: $SHOAL_CACHE/sub, $XDG_CACHE_HOME/shoal/sub, ~/.cache/shoal/sub
// (or /tmp/shoal-cache/sub without a home).
std::string DefaultCacheDir(std::string_view sub);
// Where identities are kept: DefaultCacheDir("ids").
std::string DefaultIdentityCacheDir();

struct IdentityLookup {
  Identity identity;
  bool from_cache = false;
  double seconds = 0;  // wall time of the lookup (hashing included)
};

// The identity of `file` (opened from disk: File::Open), from the cache in `cache_dir` when its
// files are unchanged, else computed over `pool` and stored (a cache that cannot be written is
// not an error). An empty `cache_dir`, or a file from memory: always computed.
// `on_progress`: as ComputeIdentity's, when it hashes (not called for an identity from the cache).
IdentityLookup LookupIdentity(const File& file, ThreadPool& pool, const std::string& cache_dir,
                              const ProgressFn& on_progress = {});

}  // namespace shoal::gguf
