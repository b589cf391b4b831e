#include "cluster/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/sysinfo.h"
#include "cluster/engine_reform.h"
#include "cluster/local_workers.h"
#include "cluster/transfer.h"
#include "comm/mpi/mpi.h"
#include "comm/shm/shm.h"
#include "comm/tcp/tcp.h"
#include "format/identity_cache.h"
#include "runtime/kv_cache.h"
#include "runtime/session.h"

namespace shoal::cluster {

Engine::~Engine() {
  if (reform) reform->stopping = true;
  if (upgrade_thread.joinable()) upgrade_thread.join();
  discoverer.reset();  // adds to the membership
  membership.reset();  // no more aborts from its thread
  executor.reset();    // rank 0: tells the workers the job is over
  job.reset();
  session.reset();
  group.reset();
  workers.reset();
}

int32_t Engine::n_vocab() const { return model->config().n_vocab; }
uint64_t Engine::weight_bytes() const { return model->weight_bytes(); }

namespace {

StatusOr<std::vector<std::string>> ReadHostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read the hostfile " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::stringstream ss(line);
    std::string word;
    if (ss >> word) out.push_back(word);
  }
  if (out.empty()) return InvalidArgument("the hostfile " + path + " lists no workers");
  return out;
}

Status OpenPooled(Engine* e, const std::string& path, int n_threads, int64_t n_ctx,
                  int32_t max_sequences, const ClusterOptions& c, ProgressBoard* progress) {
  if (int(!c.nodes.empty()) + int(!c.hostfile.empty()) + int(c.local > 0) + int(c.mpi) > 1) {
    return InvalidArgument("use one of --nodes, --hostfile, --local and --mpi");
  }
  e->pool = std::make_unique<ThreadPool>(n_threads);
  // The model's content identity into its cache before any node waits on this one (the first
  // time, hashing a large model takes longer than a node waits in silence).
  if (auto f = gguf::File::Open(path); f.ok()) {
    gguf::LookupIdentity(
        **f, *e->pool, gguf::DefaultIdentityCacheDir(),
        progress ? progress->Reporter("hash", "hashing the model", "B") : ProgressFn{});
  }
  std::vector<std::string> names = {"local"};
  if (c.mpi) {
    // Every rank runs this same command under mpirun / srun: rank 0 goes on, the others serve
    // its job and exit here.
    SHOAL_ASSIGN_OR_RETURN(e->group, comm::mpi::FromEnvironment());
    if (e->group->rank() > 0) {
      NodeOffer self;
      self.threads = e->pool->size();
      Status st = ServeJob(*e->group, *e->pool, self, "", DefaultShardCacheDir());
      if (!st.ok())
        std::fprintf(stderr, "shoal: rank %d: %s\n", e->group->rank(), st.ToString().c_str());
      e->group.reset();
      std::fflush(nullptr);
      std::exit(st.ok() ? 0 : 1);
    }
    for (int r = 1; r < e->group->size(); ++r) names.push_back("mpi rank " + std::to_string(r));
  } else if (c.local > 0) {
    const std::string secret = RandomSecret();
    const int each = std::max(1, e->pool->size());
    if (c.transport == "shm") {
      const std::string name = comm::shm::UniqueName();
      comm::shm::Options so;
      so.io_timeout_ms = c.io_timeout_ms;
      so.busy_poll = c.busy_poll;
      SHOAL_ASSIGN_OR_RETURN(e->workers,
                             LocalWorkers::Start(c.local, "shm", each, secret, name, c.local_mem,
                                                 c.busy_poll, c.local_model));
      SHOAL_ASSIGN_OR_RETURN(e->group, comm::shm::Create(name, c.local + 1, so));
    } else {
      SHOAL_ASSIGN_OR_RETURN(const comm::LinkSecurity link, LinkSecurityFlag(c.link_security));
      SHOAL_ASSIGN_OR_RETURN(
          e->workers, LocalWorkers::Start(c.local, c.transport, each, secret, "", c.local_mem,
                                          c.busy_poll, c.local_model, c.link_security));
      comm::tcp::Options to;
      to.secret = secret;
      to.link_security = link;
      to.io_timeout_ms = c.io_timeout_ms;
      to.busy_poll = c.busy_poll;
      SHOAL_ASSIGN_OR_RETURN(e->group, comm::tcp::Launch(e->workers->addresses(), to));
    }
    for (int r = 1; r <= c.local; ++r) names.push_back("local worker " + std::to_string(r));
  } else {
    std::vector<std::string> nodes = c.nodes;
    if (!c.hostfile.empty()) {
      SHOAL_ASSIGN_OR_RETURN(nodes, ReadHostfile(c.hostfile));
    }
    comm::tcp::Options to;
    SHOAL_ASSIGN_OR_RETURN(to.secret, ClusterSecret(c.secret_file));
    SHOAL_ASSIGN_OR_RETURN(to.link_security, LinkSecurityFlag(c.link_security));
    to.io_timeout_ms = c.io_timeout_ms;
    to.busy_poll = c.busy_poll;
    SHOAL_RETURN_IF_ERROR(StartMembership(e, nodes, to, c));
    if (!c.discover.empty()) {
      SHOAL_RETURN_IF_ERROR(StartDiscovery(e, c.discover, to.secret, c.ready_wait_ms, &nodes));
    }
    std::vector<std::string> busy;
    std::vector<std::string> ready =
        ReadyNodes(*e->membership, nodes, c.ready_wait_ms, true, &busy);
    if (ready.empty() && !busy.empty()) {
      std::string list;
      for (const std::string& n : busy) list += (list.empty() ? "" : ", ") + n;
      return Unavailable("every node that answers is in another pool's job (" + list +
                         "); stop that pool's rank 0 or drain the nodes, then start again");
    }
    if (ready.empty()) {
      ready = nodes;  // none answers heartbeats: the dial below says why
    } else if (ready.size() < nodes.size()) {
      std::fprintf(stderr,
                   "shoal: starting with %zu of %zu nodes; the others join when they answer\n",
                   ready.size(), nodes.size());
    }
    SHOAL_ASSIGN_OR_RETURN(e->group, comm::tcp::Launch(ready, to));
    SetMembers(e, ready);
    names.insert(names.end(), ready.begin(), ready.end());
  }
  NodeOffer self;
  self.threads = e->pool->size();
  if (c.local > 0 && !c.local_mem.empty()) {
    SHOAL_ASSIGN_OR_RETURN(parallel::NodeSpec n, parallel::ParseNodeSpec("mem=" + c.local_mem));
    self.memory_bytes = n.memory_bytes;
  }
  JobOptions jo;
  jo.model_path = path;
  jo.n_ctx = int32_t(n_ctx);
  jo.stages = c.stages;
  SHOAL_ASSIGN_OR_RETURN(jo.expert_split, parallel::ParseExpertSplit(c.experts));
  jo.reserve_bytes = uint64_t(c.reserve_mib) << 20;
  jo.node_names = names;
  jo.io_timeout_ms = c.io_timeout_ms;  // workers: none while idle, this during a command
  jo.progress = progress;
  if (max_sequences > 1) {  // a paged cache of max_sequences contexts on every node
    const int64_t blocks = (n_ctx + runtime::kBlockTokens - 1) / runtime::kBlockTokens;
    jo.kv_blocks = int32_t(std::min<int64_t>(blocks * max_sequences, int64_t{1} << 26));
  }
  if (e->membership) {
    jo.pool_id = e->membership->pool_id();
    jo.heartbeat_ms = e->membership->options().interval_ms;
    jo.epoch = 1;
    e->membership->SetEpoch(1);
    SaveForReform(e, path, self, jo);
  }
  SHOAL_ASSIGN_OR_RETURN(e->job, StartJob(*e->group, *e->pool, self, jo));
  e->model = std::move(e->job->model);
  e->session = std::move(e->job->session);
  e->executor = std::move(e->job->executor);
  if (e->reform) {
    std::lock_guard<std::mutex> l(e->reform->mu);
    e->reform->plan_json = e->job->plan.ToJson().dump();
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& path, int n_threads, int64_t n_ctx,
                                             const ClusterOptions& cluster, int32_t max_sequences,
                                             ProgressBoard* progress) {
  if (max_sequences < 1 || max_sequences > 4096) {
    return InvalidArgument("sequences at once must be in [1, 4096], not " +
                           std::to_string(max_sequences));
  }
  if (n_ctx < 0) return InvalidArgument("the context length must be >= 0");
  if (n_ctx > (int64_t{1} << 30)) {
    return ResourceExhausted("a context of " + std::to_string(n_ctx) +
                             " tokens needs more memory than any machine has");
  }
  auto e = std::make_unique<Engine>();
  if (cluster.pooled()) {
    if (n_ctx == 0) n_ctx = 4096;  // the plan sizes every node's KV cache for it
    e->n_ctx = n_ctx;
    SHOAL_RETURN_IF_ERROR(
        OpenPooled(e.get(), path, n_threads, n_ctx, max_sequences, cluster, progress));
    e->tokenizer_keep = e->model->shared_tokenizer();
    return e;
  }
  model::LoadOptions lo;
  lo.check_memory = false;  // checked below, with the context actually used
  if (progress) lo.on_progress = progress->Reporter("map", "mapping and repacking weights", "B");
  SHOAL_ASSIGN_OR_RETURN(e->model, model::Model::Load(path, lo));
  const model::ModelConfig& cfg = e->model->config();
  if (n_ctx == 0) {
    n_ctx = cfg.n_ctx_train > 0 ? std::min<int64_t>(cfg.n_ctx_train, 4096) : 4096;
  }
  e->n_ctx = n_ctx;
  SHOAL_RETURN_IF_ERROR(e->model->CheckFitsInMemory(static_cast<int32_t>(n_ctx)).With(path));
  e->pool = std::make_unique<ThreadPool>(n_threads);
  int32_t kv_blocks = 0;  // one sequence: the single-sequence layout
  if (max_sequences > 1) {
    const uint64_t avail = AvailableMemoryBytes();
    kv_blocks =
        runtime::KvBlocksFor(*e->model, static_cast<int32_t>(n_ctx), max_sequences, avail / 4 * 3);
  }
  SHOAL_ASSIGN_OR_RETURN(
      e->session,
      runtime::Session::Create(*e->model, *e->pool, static_cast<int32_t>(n_ctx), {}, kv_blocks));
  e->executor = std::make_unique<runtime::Executor>(*e->session, nullptr);
  e->tokenizer_keep = e->model->shared_tokenizer();
  return e;
}

}  // namespace shoal::cluster
