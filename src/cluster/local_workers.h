// Worker processes on this machine for `shoal run --local N` (a one-command demo of a pool, and
// what the tests use), and the cluster secret every node shares.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/channel.h"

namespace shoal::cluster {

// The secret from `file` (trailing newline dropped) or else $SHOAL_SECRET; a weak one (shorter
// than 32 bytes or fewer than 8 different characters) is refused with how to make one.
StatusOr<std::string> ClusterSecret(const std::string& file);
// 32 random bytes as hex (libsodium's generator), for a pool that lives inside one command.
std::string RandomSecret();
// --link-security seal|auth|none; "none" prints a warning on stderr.
StatusOr<comm::LinkSecurity> LinkSecurityFlag(const std::string& name);

class LocalWorkers {
 public:
  // Starts n `shoal worker --once` children: over "tcp" (127.0.0.1, ports they pick and announce
  // on a pipe) or "shm" (attaching to segment `shm_name` as ranks 1..n). Each computes with
  // threads_each threads, with `model` as its copy of the model (empty: rank 0's path). On Linux
  // a child dies with its parent.
  static StatusOr<std::unique_ptr<LocalWorkers>> Start(int n, const std::string& transport,
                                                       int threads_each, const std::string& secret,
                                                       const std::string& shm_name,
                                                       const std::string& mem, bool busy_poll,
                                                       const std::string& model = "",
                                                       const std::string& link_security = "seal");
  ~LocalWorkers();  // gives the children a second to end (they do, once rank 0 is gone), then kills
                    // them

  const std::vector<std::string>& addresses() const { return addresses_; }  // tcp only
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  std::vector<pid_t> pids_;
  std::vector<std::string> addresses_;
};

}  // namespace shoal::cluster
