// shoal worker --listen ADDR [-m MODEL] [-t T] [--mem SIZE] [--bandwidth GBS] [--once]
//              [--announce [GROUP:PORT]] [--announce-to HOST:PORT,...]
// A node of a pool (cluster/worker.h): waits for a rank 0 (`shoal run --nodes ...`), authenticates
// it with the cluster secret, holds its shard of the model for the job, and waits for the next
// job. Also the child of `shoal run --local N` (--port-fd, or --shm NAME --rank R).
#include <CLI/CLI.hpp>
#include <memory>

#include "cli_common.h"
#include "cluster/discovery.h"
#include "cluster/worker.h"

namespace shoal::cli {

Action RegisterWorker(CLI::App& app) {
  auto o = std::make_shared<cluster::WorkerOptions>();
  CLI::App* sub = app.add_subcommand("worker", "Serve this machine's memory to a pool");
  sub->add_option("--listen", o->listen, "address to listen on, HOST:PORT (port 0: any)");
  sub->add_option("-m,--model", o->model, "this node's copy of the GGUF (default: rank 0's path)");
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core")->capture_default_str();
  sub->add_option("--cache", o->cache,
                  "where weights received from rank 0 are kept (default ~/.cache/shoal/shards)");
  sub->add_option("--cache-max", o->cache_max,
                  "most disk the shard cache may take (least recently used entries go first)")
      ->capture_default_str();
  sub->add_option("--mem", o->mem, "memory offered to the pool, e.g. 12G (default: available)");
  sub->add_option("--bandwidth", o->bandwidth, "memory bandwidth in GB/s, for the plan");
  sub->add_flag("!--release-weights", o->keep_weights,
                "give the shard's memory back when a job ends (default: keep it for the next job, "
                "which then starts without loading when it gives this node the same shard)");
  sub->add_option("--secret-file", o->secret_file,
                  "file holding the cluster secret (default: $SHOAL_SECRET)");
  sub->add_option("--io-timeout-ms", o->io_timeout_ms, "a silent peer is reported after this")
      ->capture_default_str();
  sub->add_flag("--busy-poll", o->busy_poll,
                "spin instead of sleeping while waiting on the network (lowest latency)");
  sub->add_option("--link-security", o->link_security,
                  "tcp frames: seal (encrypted + authenticated), auth (authenticated, in clear), "
                  "none (benchmarks only); the same on every node")
      ->capture_default_str()
      ->check(CLI::IsMember({"seal", "auth", "none"}));
  const char* d = "Discovery (see `shoal discover`)";
  sub->add_option("--announce", o->announce,
                  "announce this worker (tagged with the cluster secret) to a multicast group, "
                  "GROUP:PORT (default " +
                      std::string(cluster::kDefaultDiscoveryGroup) + ", TTL 1)")
      ->expected(0, 1)
      ->default_str(cluster::kDefaultDiscoveryGroup)
      ->group(d);
  sub->add_option("--announce-to", o->announce_to,
                  "also announce to these unicast HOST:PORT,... (networks without multicast)")
      ->delimiter(',')
      ->group(d);
  sub->add_option("--announce-interval-ms", o->announce_interval_ms,
                  "milliseconds between announcements")
      ->capture_default_str()
      ->check(CLI::Range(10, 3600000))
      ->group(d);
  sub->add_flag("--once", o->once, "serve one job, then exit");
  sub->add_option("--port-fd", o->port_fd, "write the port to this descriptor (for --local)")
      ->group("");
  sub->add_option("--shm", o->shm, "join a shared-memory group (for --local)")->group("");
  sub->add_option("--rank", o->rank, "rank in the shared-memory group")->group("");
  return [o] {
    o->version = BuildCommit();
    o->argv = ProgramArgs();
    return cluster::ServeWorker(*o);
  };
}

}  // namespace shoal::cli
