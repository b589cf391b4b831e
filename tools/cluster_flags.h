// The pool flags every evaluating verb shares (--nodes, --hostfile, --local, --mpi, ...), bound
// to cluster::ClusterOptions; and the engine's names as the verbs use them.
#pragma once

#include "cluster/engine.h"
#include "cluster/local_workers.h"

namespace CLI {
class App;
}

namespace shoal::cli {

using cluster::ClusterOptions;
using cluster::Engine;
using cluster::OpenEngine;

void AddClusterOptions(CLI::App* sub, ClusterOptions* o);
// --discover [GROUP:PORT] (`shoal serve`): find workers by their announcements (discoverer.h).
void AddDiscoverOptions(CLI::App* sub, ClusterOptions* o);

}  // namespace shoal::cli
