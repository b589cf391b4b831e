// Two parts of GET /v1/pool (docs/dashboard.md): `progress`, the steps of the server's start
// (mapping and repacking weights, shipping shards to nodes, the nodes' load reports, the
// warm-up) as a ProgressBoard has them, and `links`, the connections from rank 0 to each worker
// with their transport and link security.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/progress_board.h"

namespace shoal::server {

// How rank 0 reaches the workers.
struct LinkInfo {
  std::string transport;  // "tcp", "shm", "mpi"; empty: one machine, no links
  std::string security;   // tcp: "seal", "auth" or "none"; shm: "local"; mpi: "mpi"
};

// {"state", "error", "phase", "label", "done", "total", "unit", "nodes", "phases"}: the current
// phase's figures at the top (its items under "nodes" when it is per node, else null), every
// phase under "phases".
nlohmann::ordered_json ProgressJson(const ProgressSnapshot& s);

// One link from rank 0 to each other rank of `plan` (its "nodes"): [] for one node.
nlohmann::ordered_json LinksJson(const LinkInfo& link, const nlohmann::ordered_json& plan);

}  // namespace shoal::server
