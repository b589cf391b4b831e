// Collective micro-benchmark over real processes (fork): for each transport x ranks x count x
// wait mode, the median and p90 microseconds of AllReduceSum on rank 0, beside the transport's
// ping-pong round trip for a message of the same size between 2 ranks, and their ratio.
//
// Forks: call it from a process whose other threads hold no locks the children need (the
// standalone bench, or the CLI before it starts a thread pool).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/group.h"

namespace shoal::comm::bench {

struct Options {
  std::vector<std::string> transports = {"shm", "tcp"};
  std::vector<int> ranks = {2, 4, 8};
  std::vector<size_t> counts = {4096, 7168};  // f32 elements per all-reduce
  std::vector<Algorithm> algorithms = {Algorithm::kAuto};
  // Wait modes: blocking (poll / yield+sleep) always; busy polling only where every rank can
  // have a core (ranks <= CPUs), since spinning ranks on shared cores measure the scheduler.
  bool blocking = true;
  bool busy_poll = true;
  int warmup_iters = 30;
  int max_iters = 2000;
  double seconds_per_case = 0.6;  // iterations = min(max_iters, this / warm-up time per call)
  int io_timeout_ms = 10000;
  // tcp only: the link securities measured, each a row of its own ("seal", "auth", "none").
  std::vector<std::string> link_security = {"seal"};
};

// {"bench": "comm_collectives", "cpus": N, "results": [{"transport", "link_security" (tcp),
//   "ranks", "count", "bytes",
//   "busy_poll", "algorithm", "iters", "allreduce_us": {"median", "p90"},
//   "pingpong_rtt_us": {"median", "p90"}, "ratio"}...], "pingpong": [...], "errors": [...]}
nlohmann::json RunCollectiveBench(const Options& options);

}  // namespace shoal::comm::bench
