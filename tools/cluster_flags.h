// The pool flags every evaluating verb shares (--nodes, --hostfile, --local, --mpi, ...), bound
// to cluster::ClusterOptions; and the engine's names as the verbs use them.
#pragma once

#include "cluster/engine.h"
#include "cluster/local_workers.h"
#include "runtime/scheduler.h"

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

// A pool whose nodes are watched re-forms when one is lost or joins: the scheduler drives it.
void EnableFailover(Engine& e, runtime::SchedulerOptions* so);
// While it lives, pool changes wake `s` (RequestReform).
class FailoverLink {
 public:
  FailoverLink(Engine& e, runtime::Scheduler& s);
  ~FailoverLink();
  FailoverLink(const FailoverLink&) = delete;
  FailoverLink& operator=(const FailoverLink&) = delete;

 private:
  Engine& e_;
};

}  // namespace shoal::cli
