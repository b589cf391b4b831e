// Loopback backend: the ranks of a group are threads of one process, connected by in-memory
// byte rings; the collectives are the same code the tcp and shm backends run (peer_group.h).
// For tests: MakeLoopbackGroups(4) gives four Groups; give each to its own thread.
#pragma once

#include <memory>
#include <vector>

#include "comm/group.h"

namespace shoal::comm {

// n >= 1 groups, rank i at index i. A rank waiting on a peer that does not answer within
// io_timeout_ms, or that was destroyed, gets an error. ring_bytes: per ordered pair (power of 2).
std::vector<std::unique_ptr<Group>> MakeLoopbackGroups(int n, int io_timeout_ms = 30000,
                                                       size_t ring_bytes = 256 * 1024);

}  // namespace shoal::comm
