// shoal worker --listen ADDR [-m MODEL] [-t T] [--mem SIZE] [--bandwidth GBS] [--once]
// A node of a pool: waits for a rank 0 (`shoal run --nodes ...`), authenticates it with the
// cluster secret, holds its shard of the model for the job, and waits for the next job.
// Also the child of `shoal run --local N` (--port-fd, or --shm NAME --rank R).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "base/thread_pool.h"
#include "cli_common.h"
#include "cluster/job.h"
#include "cluster/transfer.h"
#include "comm/shm/shm.h"
#include "comm/tcp/tcp.h"
#include "local_workers.h"
#include "parallel/plan.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string listen, model, mem, shm, cache;
  int rank = -1;
  int n_threads = 0;
  double bandwidth = 0;
  bool once = false;
  int port_fd = -1;
  std::string secret_file;
  int io_timeout_ms = 30000;
  bool busy_poll = false;
  std::string link_security = "seal";
};

Status Serve(const Opts& o) {
  cluster::NodeOffer self;
  if (!o.mem.empty()) {
    SHOAL_ASSIGN_OR_RETURN(parallel::NodeSpec n, parallel::ParseNodeSpec("mem=" + o.mem));
    self.memory_bytes = n.memory_bytes;
  }
  self.bandwidth_gbs = o.bandwidth;
  const std::string cache = o.cache.empty() ? cluster::DefaultShardCacheDir() : o.cache;
  ThreadPool pool(o.n_threads);
  self.threads = pool.size();
  if (!o.shm.empty()) {  // one job over shared memory, as a child of `shoal run --local`
    comm::shm::Options so;
    so.io_timeout_ms = o.io_timeout_ms;
    so.busy_poll = o.busy_poll;
    SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<comm::Group> g, comm::shm::Attach(o.shm, o.rank, so));
    return cluster::ServeJob(*g, pool, self, o.model, cache);
  }
  if (o.listen.empty()) return InvalidArgument("worker: --listen ADDR (or --shm) is required");
  comm::tcp::Options to;
  SHOAL_ASSIGN_OR_RETURN(to.secret, ClusterSecret(o.secret_file));
  SHOAL_ASSIGN_OR_RETURN(to.link_security, LinkSecurityFlag(o.link_security));
  to.io_timeout_ms = o.io_timeout_ms;
  to.busy_poll = o.busy_poll;
  SHOAL_ASSIGN_OR_RETURN(comm::tcp::Listener listener, comm::tcp::Listener::Bind(o.listen));
  if (o.port_fd >= 0) {
    const std::string line = std::to_string(listener.port()) + "\n";
    if (::write(o.port_fd, line.data(), line.size()) != ssize_t(line.size())) {
      return IoError("worker: cannot announce the port");
    }
    ::close(o.port_fd);
  } else {
    std::fprintf(stderr, "shoal worker: listening on %s (%d threads)\n", listener.address().c_str(),
                 pool.size());
  }
  for (;;) {
    auto g = comm::tcp::Join(listener, to, /*accept_timeout_ms=*/o.once ? 60000 : -1);
    Status st = g.ok() ? cluster::ServeJob(**g, pool, self, o.model, cache) : g.status();
    if (o.once) return st;
    if (!st.ok()) std::fprintf(stderr, "shoal worker: job ended: %s\n", st.ToString().c_str());
  }
}

}  // namespace

Action RegisterWorker(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("worker", "Serve this machine's memory to a pool");
  sub->add_option("--listen", o->listen, "address to listen on, HOST:PORT (port 0: any)");
  sub->add_option("-m,--model", o->model, "this node's copy of the GGUF (default: rank 0's path)");
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core")->capture_default_str();
  sub->add_option("--cache", o->cache,
                  "where weights received from rank 0 are kept (default ~/.cache/shoal/shards)");
  sub->add_option("--mem", o->mem, "memory offered to the pool, e.g. 12G (default: available)");
  sub->add_option("--bandwidth", o->bandwidth, "memory bandwidth in GB/s, for the plan");
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
  sub->add_flag("--once", o->once, "serve one job, then exit");
  sub->add_option("--port-fd", o->port_fd, "write the port to this descriptor (for --local)")
      ->group("");
  sub->add_option("--shm", o->shm, "join a shared-memory group (for --local)")->group("");
  sub->add_option("--rank", o->rank, "rank in the shared-memory group")->group("");
  return [o] { return Serve(*o); };
}

}  // namespace shoal::cli
