// shm backend: the ranks of a job on one machine (processes or threads), connected through one
// POSIX shared-memory segment (shm_open, mode 0600) holding a lock-free byte ring per ordered
// pair of ranks (ring.h). Waiting spins, then yields, then sleeps briefly (busy_poll: spins
// only); no futex, so it runs on Linux and macOS alike.
//
// A peer that left the group, whose process died (pid checked with kill(pid, 0), and on Linux
// its zombie state), or that stays silent past io_timeout_ms is reported, never waited on.
//
//   rank 0:  auto g = shm::Create(name, 4, {});      // returns once all 4 ranks attached
//   rank r:  auto g = shm::Attach(name, r, {});      // may start before rank 0 creates it
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"
#include "comm/group.h"

namespace shoal::comm::shm {

inline constexpr int kMaxWorld = 256;

struct Options {
  int io_timeout_ms = 30000;       // attach wait, and a silent peer during a call
  bool busy_poll = false;          // spin without yielding (lowest latency; a core per rank)
  size_t ring_bytes = 128 * 1024;  // per ordered pair of ranks; a power of two >= 4096
};

// A fresh segment name for one job ("/shoal-<pid>-<random>", short enough for macOS).
std::string UniqueName();

// Rank 0: creates the segment `name` ("/x", at most 30 characters) for `world` ranks, waits until
// all attached (up to io_timeout_ms), then unlinks the name (also on failure or destruction).
StatusOr<std::unique_ptr<Group>> Create(const std::string& name, int world, const Options& o);

// Rank `rank` (1..world-1): waits up to io_timeout_ms for the segment to exist, attaches, and
// returns once every rank has attached.
StatusOr<std::unique_ptr<Group>> Attach(const std::string& name, int rank, const Options& o);

}  // namespace shoal::comm::shm
