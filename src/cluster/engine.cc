#include "cluster/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cluster/local_workers.h"
#include "cluster/transfer.h"
#include "comm/mpi/mpi.h"
#include "comm/shm/shm.h"
#include "comm/tcp/tcp.h"

namespace shoal::cluster {

Engine::~Engine() {
  executor.reset();  // rank 0: tells the workers the job is over
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
                  const ClusterOptions& c) {
  if (int(!c.nodes.empty()) + int(!c.hostfile.empty()) + int(c.local > 0) + int(c.mpi) > 1) {
    return InvalidArgument("use one of --nodes, --hostfile, --local and --mpi");
  }
  e->pool = std::make_unique<ThreadPool>(n_threads);
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
      SHOAL_ASSIGN_OR_RETURN(e->workers, LocalWorkers::Start(c.local, "shm", each, secret, name,
                                                             c.local_mem, c.busy_poll));
      SHOAL_ASSIGN_OR_RETURN(e->group, comm::shm::Create(name, c.local + 1, so));
    } else {
      SHOAL_ASSIGN_OR_RETURN(e->workers, LocalWorkers::Start(c.local, c.transport, each, secret, "",
                                                             c.local_mem, c.busy_poll));
      comm::tcp::Options to;
      to.secret = secret;
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
    to.io_timeout_ms = c.io_timeout_ms;
    to.busy_poll = c.busy_poll;
    SHOAL_ASSIGN_OR_RETURN(e->group, comm::tcp::Launch(nodes, to));
    names.insert(names.end(), nodes.begin(), nodes.end());
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
  SHOAL_ASSIGN_OR_RETURN(e->job, StartJob(*e->group, *e->pool, self, jo));
  e->model = std::move(e->job->model);
  e->session = std::move(e->job->session);
  e->executor = std::move(e->job->executor);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& path, int n_threads, int64_t n_ctx,
                                             const ClusterOptions& cluster) {
  if (n_ctx < 0) return InvalidArgument("the context length must be >= 0");
  if (n_ctx > (int64_t{1} << 30)) {
    return ResourceExhausted("a context of " + std::to_string(n_ctx) +
                             " tokens needs more memory than any machine has");
  }
  auto e = std::make_unique<Engine>();
  if (cluster.pooled()) {
    if (n_ctx == 0) n_ctx = 4096;  // the plan sizes every node's KV cache for it
    e->n_ctx = n_ctx;
    SHOAL_RETURN_IF_ERROR(OpenPooled(e.get(), path, n_threads, n_ctx, cluster));
    return e;
  }
  model::LoadOptions lo;
  lo.check_memory = false;  // checked below, with the context actually used
  SHOAL_ASSIGN_OR_RETURN(e->model, model::Model::Load(path, lo));
  const model::ModelConfig& cfg = e->model->config();
  if (n_ctx == 0) {
    n_ctx = cfg.n_ctx_train > 0 ? std::min<int64_t>(cfg.n_ctx_train, 4096) : 4096;
  }
  e->n_ctx = n_ctx;
  SHOAL_RETURN_IF_ERROR(e->model->CheckFitsInMemory(static_cast<int32_t>(n_ctx)).With(path));
  e->pool = std::make_unique<ThreadPool>(n_threads);
  e->session = std::make_unique<runtime::Session>(*e->model, *e->pool, static_cast<int32_t>(n_ctx));
  e->executor = std::make_unique<runtime::Executor>(*e->session, nullptr);
  return e;
}

}  // namespace shoal::cluster
