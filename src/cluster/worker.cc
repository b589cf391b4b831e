#include "cluster/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "base/progress_board.h"
#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "cluster/announcer.h"
#include "cluster/heartbeat.h"
#include "cluster/job.h"
#include "cluster/local_workers.h"
#include "cluster/transfer.h"
#include "cluster/upgrade.h"
#include "comm/shm/shm.h"
#include "comm/tcp/handshake.h"
#include "comm/tcp/tcp.h"
#include "format/identity_cache.h"
#include "parallel/plan.h"

namespace shoal::cluster {
namespace {

// The job this node is in, seen from the heartbeat thread.
class JobWatch {
 public:
  void Enter(comm::Group* g) {
    std::lock_guard<std::mutex> l(mu_);
    group_ = g, pool_ = 0, epoch_ = 0, last_ping_ms_ = 0, gap_ms_ = 0;
  }
  // A job with a pool id comes from a rank 0 that pings every node of its pool every
  // `heartbeat_ms`: the clock starts now, so a rank 0 that stops before its first ping here is
  // judged too.
  void Name(uint64_t pool, uint64_t epoch, int heartbeat_ms) {
    std::lock_guard<std::mutex> l(mu_);
    pool_ = pool, epoch_ = epoch;
    gap_ms_ = uint64_t(std::max(heartbeat_ms, 0));
    if (pool != 0) last_ping_ms_ = MonotonicMs();
  }
  void Leave() {
    std::lock_guard<std::mutex> l(mu_);
    group_ = nullptr, pool_ = 0, epoch_ = 0;
  }
  // The pool runs a newer job than ours: ours is over (rank 0 has given up on it).
  void OnPing(const Ping& p) {
    std::lock_guard<std::mutex> l(mu_);
    if (group_ == nullptr || pool_ == 0 || p.pool != pool_) return;
    const uint64_t now = MonotonicMs();
    if (last_ping_ms_ != 0) {
      const uint64_t gap = now - last_ping_ms_;
      gap_ms_ = gap_ms_ == 0 ? gap : (gap_ms_ * 7 + gap) / 8;
    }
    last_ping_ms_ = now;
    if (p.epoch > epoch_) {
      std::fprintf(stderr, "shoal worker: the pool moved on to job %llu: leaving job %llu\n",
                   static_cast<unsigned long long>(p.epoch),
                   static_cast<unsigned long long>(epoch_));
      group_->Abort();
      pool_ = 0;  // once
    }
  }
  // Rank 0 of this job has gone silent: it is dead or cut off (it would have closed its
  // connections had it ended). A job without a pool id (`--local`, `--mpi`: no heartbeats) is
  // never judged.
  void OnTick() {
    std::lock_guard<std::mutex> l(mu_);
    if (group_ == nullptr || pool_ == 0 || last_ping_ms_ == 0) return;
    const uint64_t silent = MonotonicMs() - last_ping_ms_;
    if (silent <= std::max<uint64_t>(kRank0SilentMs, 10 * gap_ms_)) return;
    std::fprintf(stderr, "shoal worker: rank 0 of job %llu silent for %llu ms: leaving the job\n",
                 static_cast<unsigned long long>(epoch_), static_cast<unsigned long long>(silent));
    group_->Abort();
    pool_ = 0;  // once
  }
  void Fill(NodeStatus* s) {
    std::lock_guard<std::mutex> l(mu_);
    s->activity = group_ != nullptr ? NodeActivity::kJob : NodeActivity::kIdle;
    s->job_pool = pool_;
    s->job_epoch = epoch_;
  }

 private:
  std::mutex mu_;
  comm::Group* group_ = nullptr;
  uint64_t pool_ = 0, epoch_ = 0;
  uint64_t last_ping_ms_ = 0;  // this job's rank 0's last ping, or when it was named (0: neither)
  uint64_t gap_ms_ = 0;        // its usual gap between pings (moving average)
};

}  // namespace

Status ServeWorker(const WorkerOptions& o) {
  NodeOffer self;
  if (!o.mem.empty()) {
    SHOAL_ASSIGN_OR_RETURN(parallel::NodeSpec n, parallel::ParseNodeSpec("mem=" + o.mem));
    self.memory_bytes = n.memory_bytes;
  }
  self.bandwidth_gbs = o.bandwidth;
  const std::string cache = o.cache.empty() ? DefaultShardCacheDir() : o.cache;
  SHOAL_ASSIGN_OR_RETURN(const uint64_t cache_max, ParseByteSize(o.cache_max));
  ThreadPool pool(o.n_threads);
  self.threads = pool.size();
  // This node's copy's content identity into its cache before rank 0 waits on it in a job.
  std::string model_id;
  if (!o.model.empty()) {
    if (auto f = gguf::File::Open(o.model); f.ok()) {
      ProgressBoard hashing(stderr);  // the first time, a large model takes a while
      model_id = gguf::LookupIdentity(**f, pool, gguf::DefaultIdentityCacheDir(),
                                      hashing.Reporter("hash", "hashing the model", "B"))
                     .identity.model.Hex();
      hashing.SetReady();
    }
  }
  const bool announcing = !o.announce.empty() || !o.announce_to.empty();
  if (announcing && !o.shm.empty()) {
    return InvalidArgument("worker: --announce is for tcp workers (--listen), not --shm");
  }
  if (!o.shm.empty()) {  // one job over shared memory, as a child of `shoal run --local`
    comm::shm::Options so;
    so.io_timeout_ms = o.io_timeout_ms;
    so.busy_poll = o.busy_poll;
    SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<comm::Group> g, comm::shm::Attach(o.shm, o.rank, so));
    return ServeJob(*g, pool, self, o.model, cache, cache_max);
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
  JobWatch watch;
  ShardKeeper keeper;  // the weights of the last job, for the next (declared before its readers)
  ShardKeeper* keep = o.keep_weights ? &keeper : nullptr;
  std::unique_ptr<HeartbeatResponder> heartbeats;
  if (o.heartbeats) {
    const uint64_t started = MonotonicMs();
    NodeStatus base;
    base.instance = RandomU64();
    base.threads = uint32_t(pool.size());
    base.version = o.version;
    base.model = model_id;
    SHOAL_ASSIGN_OR_RETURN(comm::tcp::HostPort hp, comm::tcp::ParseHostPort(o.listen));
    SHOAL_ASSIGN_OR_RETURN(
        heartbeats,
        HeartbeatResponder::Start(
            comm::tcp::FormatHostPort(hp.host, uint16_t(listener.port())), to.secret,
            [&watch, &keeper, base, started] {
              NodeStatus s = base;
              FillHostStatus(&s, started);
              s.memory_available_bytes += keeper.held_bytes();  // given back if need be
              watch.Fill(&s);
              return s;
            },
            [&watch](const Ping& p) { watch.OnPing(p); }, [&watch] { watch.OnTick(); }));
  }
  std::unique_ptr<Announcer> announcer;  // stops (thread joined, socket closed) on return
  if (announcing) {
    AnnouncerOptions ao;
    ao.group = o.announce;
    ao.targets = o.announce_to;
    ao.interval_ms = o.announce_interval_ms;
    ao.secret = to.secret;
    SHOAL_ASSIGN_OR_RETURN(const comm::tcp::HostPort ahp, comm::tcp::ParseHostPort(o.listen));
    ao.what.host = IsWildcardHost(ahp.host) ? "" : ahp.host;
    ao.what.port = uint16_t(listener.port());
    ao.what.protocol = comm::tcp::kProtocolVersion;
    ao.what.memory_bytes = self.memory_bytes ? self.memory_bytes : AvailableMemoryBytes();
    ao.what.version = o.version.substr(0, kMaxAnnounceVersionBytes);
    ao.what.model_id = model_id;
    SHOAL_ASSIGN_OR_RETURN(announcer, Announcer::Start(ao));
    std::string where = o.announce.empty() ? "" : "group " + o.announce;
    for (const std::string& t : o.announce_to) where += (where.empty() ? "" : ", ") + t;
    std::fprintf(stderr, "shoal worker: announcing to %s (instance %016llx)\n", where.c_str(),
                 static_cast<unsigned long long>(announcer->instance()));
  }
  UpgradeSlot upgrade;
  if (!o.argv.empty() && !o.once) {
    auto exe = SelfExecutable();
    if (exe.ok()) upgrade.self_exe = *exe;
  }
  for (;;) {
    auto g = comm::tcp::Join(listener, to, /*accept_timeout_ms=*/o.once ? 60000 : -1);
    Status st = g.status();
    if (g.ok()) {
      watch.Enter(g->get());
      st = ServeJob(
          **g, pool, self, o.model, cache, cache_max,
          [&watch](uint64_t p, uint64_t e, int hb) { watch.Name(p, e, hb); }, &upgrade, keep);
      watch.Leave();
    }
    if (!upgrade.staged.empty()) {
      g = Unavailable("upgrading");  // the job's connections close before the new binary runs
      std::fprintf(stderr, "shoal worker: restarting as the new binary\n");
      // The same arguments, but the port this worker listens on (`--listen H:0` picked one):
      // the new process comes back at the address the pool knows.
      std::vector<std::string> argv = o.argv;
      const auto listen = comm::tcp::ParseHostPort(o.listen);
      const std::string here =
          listen.ok() ? comm::tcp::FormatHostPort(listen->host, uint16_t(listener.port()))
                      : o.listen;
      for (size_t i = 0; i < argv.size(); ++i) {
        if (argv[i] == "--listen" && i + 1 < argv.size()) argv[i + 1] = here;
        if (argv[i].rfind("--listen=", 0) == 0) argv[i] = "--listen=" + here;
      }
      const Status ex = ExecUpgrade(upgrade.staged, upgrade.self_exe, argv);
      std::fprintf(stderr, "shoal worker: upgrade failed: %s\n", ex.ToString().c_str());
      upgrade.staged.clear();
    }
    if (o.once) return st;
    if (!st.ok()) std::fprintf(stderr, "shoal worker: job ended: %s\n", st.ToString().c_str());
  }
}

}  // namespace shoal::cluster
