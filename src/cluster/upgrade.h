// A node's shoal binary replaced from rank 0 (`shoal upgrade`, docs/operations.md "Upgrade").
//
// Over a job of rank 0 and that one node (the tcp handshake has proved the cluster secret; the
// frames are sealed or authenticated with keys derived from it: a link without authentication is
// refused) rank 0 sends an upgrade job (cluster/job_parse.h: the size and XXH3-128 digest), then
// the bytes in pieces of at most 16 MiB. The node writes them beside its own executable, checks
// size and digest, and that the file runs (`--version` within 10 s, printing "shoal ..."), and
// answers with its status (the new version, or why not). On Ok the node renames the file over
// its executable and executes it with its own arguments: a new process at the same address.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/group.h"
#include "format/identity.h"

namespace shoal::cluster {

inline constexpr uint64_t kMaxBinaryBytes = uint64_t{1} << 30;

// Rank 0: `g` holds rank 0 and the node (rank 1). *new_version: what the binary printed.
Status SendUpgrade(comm::Group& g, const std::string& binary_path, std::string* new_version);

// The node, inside its job (ServeJob): receives `bytes` with `digest` and stages them beside
// `self_exe`. On Ok *staged is the verified file. Rank 0 learns the outcome either way.
Status ReceiveUpgrade(comm::Group& g, uint64_t bytes, const gguf::Digest& digest,
                      const std::string& self_exe, std::string* staged);

// This process's executable (absolute path), or why it cannot be known.
StatusOr<std::string> SelfExecutable();

// Renames `staged` over `self_exe` and executes it with `argv`. Returns only on failure.
Status ExecUpgrade(const std::string& staged, const std::string& self_exe,
                   const std::vector<std::string>& argv);

}  // namespace shoal::cluster
