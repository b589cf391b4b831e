#include "cluster_flags.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "cluster/discovery.h"

namespace shoal::cli {

void AddClusterOptions(CLI::App* sub, ClusterOptions* o) {
  const char* g = "Pool (run across several nodes)";
  sub->add_option("--nodes", o->nodes, "workers HOST:PORT,... (each runs `shoal worker`)")
      ->delimiter(',')
      ->group(g);
  sub->add_option("--hostfile", o->hostfile, "file with one worker HOST:PORT a line")->group(g);
  sub->add_flag("--mpi", o->mpi,
                "run as the ranks of an MPI job (launch with mpirun / srun; RDMA where MPI has it)")
      ->group(g);
  sub->add_option("--local", o->local, "start N workers on this machine and pool with them")
      ->check(CLI::Range(0, 63))
      ->group(g);
  sub->add_option("--transport", o->transport, "for --local: tcp or shm")
      ->capture_default_str()
      ->group(g);
  sub->add_option("--local-mem", o->local_mem, "memory each --local worker offers, e.g. 300M")
      ->group(g);
  sub->add_option("--local-model", o->local_model,
                  "for --local: the model file the workers open (default: rank 0's)")
      ->group(g);
  sub->add_option("--secret-file", o->secret_file,
                  "file holding the cluster secret (default: $SHOAL_SECRET)")
      ->group(g);
  sub->add_option("--stages", o->stages, "pipeline stages")->capture_default_str()->group(g);
  sub->add_option("--experts", o->experts,
                  "mixture of experts: 'experts' (whole experts per node, expert parallel), "
                  "'columns' (every expert's hidden columns split over the nodes) or 'auto' "
                  "(columns when they split that finely)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "experts", "columns"}))
      ->group(g);
  sub->add_option("--reserve-mib", o->reserve_mib,
                  "memory each node keeps for itself beyond its weights and KV cache")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->group(g);
  sub->add_flag("--busy-poll", o->busy_poll,
                "spin instead of sleeping while waiting on the network (lowest latency; costs a "
                "core per waiting thread; --local workers get it too)")
      ->group(g);
  sub->add_option("--io-timeout-ms", o->io_timeout_ms, "a silent node is reported after this")
      ->capture_default_str()
      ->group(g);
  sub->add_option("--link-security", o->link_security,
                  "tcp frames after the handshake: seal (encrypted + authenticated), auth "
                  "(authenticated, in clear: trusted links), none (benchmarks only); the same on "
                  "every node")
      ->capture_default_str()
      ->check(CLI::IsMember({"seal", "auth", "none"}))
      ->group(g);
  sub->add_option("--heartbeat-ms", o->heartbeats.interval_ms,
                  "--nodes/--hostfile: rank 0 pings every node this often (UDP, the listen port)")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000))
      ->group(g);
  sub->add_option("--slow-after-ms", o->heartbeats.slow_after_ms,
                  "a node silent this long is reported slow (nothing else happens)")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000))
      ->group(g);
  sub->add_option("--rebalance-margin", o->rebalance_margin,
                  "a node joining a running pool is taken when the cost model predicts decode "
                  "this much faster with it (0.1: 10%; -1: always)")
      ->capture_default_str()
      ->check(CLI::Range(-1.0, 100.0))
      ->group(g);
  sub->add_option("--link-gbits", o->link_gbits,
                  "the links' bandwidth (Gbit/s) the cost model assumes when re-planning")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 100000.0))
      ->group(g);
  sub->add_option("--dead-after-ms", o->heartbeats.dead_after_ms,
                  "a node silent this long is lost: the pool re-forms without it")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000))
      ->group(g);
}

void EnableFailover(Engine& e, runtime::SchedulerOptions* so) {
  if (!e.can_reform()) return;
  so->reform = [&e](const Status& why) { return e.Reform(why); };
}

FailoverLink::FailoverLink(Engine& e, runtime::Scheduler& s) : e_(e) {
  e_.SetOnPoolChange([&s] { s.RequestReform(); });
}

FailoverLink::~FailoverLink() { e_.SetOnPoolChange({}); }

void AddDiscoverOptions(CLI::App* sub, ClusterOptions* o) {
  sub->add_option("--discover", o->discover,
                  "find workers started with `shoal worker --announce` on the local network: "
                  "listen on a multicast group, GROUP:PORT (default " +
                      std::string(cluster::kDefaultDiscoveryGroup) +
                      "); only announcements tagged with the cluster secret count")
      ->expected(0, 1)
      ->default_str(cluster::kDefaultDiscoveryGroup)
      ->group("Pool (run across several nodes)");
}

}  // namespace shoal::cli
