#include "cluster/job.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/sysinfo.h"
#include "cluster/job_parse.h"
#include "cluster/transfer.h"
#include "cluster/upgrade.h"
#include "format/identity_cache.h"
#include "runtime/kv_cache.h"
#include "runtime/pooled.h"

namespace shoal::cluster {
namespace {

constexpr size_t kOfferBytes = 24;
constexpr size_t kReportBytes = 256;

// `held`: bytes of weights kept from the previous job, given back when the plan changes.
void PutOffer(const NodeOffer& o, uint8_t* b, uint64_t held = 0) {
  const uint64_t mem = o.memory_bytes ? o.memory_bytes : AvailableMemoryBytes() + held;
  const uint32_t threads = uint32_t(o.threads), pad = 0;
  std::memcpy(b, &mem, 8);
  std::memcpy(b + 8, &threads, 4);
  std::memcpy(b + 12, &pad, 4);
  std::memcpy(b + 16, &o.bandwidth_gbs, 8);
}

NodeOffer GetOffer(const uint8_t* b) {
  NodeOffer o;
  uint32_t threads;
  std::memcpy(&o.memory_bytes, b, 8);
  std::memcpy(&threads, b + 8, 4);
  std::memcpy(&o.bandwidth_gbs, b + 16, 8);
  o.threads = int32_t(std::min<uint32_t>(threads, 1u << 16));
  if (!(o.bandwidth_gbs >= 0 && o.bandwidth_gbs < 1e6)) o.bandwidth_gbs = 0;
  return o;
}

// A rank's load result: u32 code + message, fixed size.
void PutReport(const Status& s, uint8_t* b) {
  std::memset(b, 0, kReportBytes);
  const uint32_t code = uint32_t(s.code());
  std::memcpy(b, &code, 4);
  const std::string m = s.message().substr(0, kReportBytes - 5);
  std::memcpy(b + 4, m.data(), m.size());
}

Status GetReport(const uint8_t* b) {
  uint32_t code;
  std::memcpy(&code, b, 4);
  if (code == 0) return Status::Ok();
  if (code > uint32_t(StatusCode::kInternal)) code = uint32_t(StatusCode::kInternal);
  return Status(StatusCode(code),
                std::string(reinterpret_cast<const char*>(b + 4),
                            strnlen(reinterpret_cast<const char*>(b + 4), kReportBytes - 5)));
}

Status SendJob(comm::Group& g, const JobMessage& m) {
  std::string text = JobText(m);
  uint64_t n = text.size();
  SHOAL_RETURN_IF_ERROR(g.Broadcast(&n, sizeof(n), 0));
  return g.Broadcast(text.data(), text.size(), 0);
}

StatusOr<std::string> RecvJob(comm::Group& g) {
  uint64_t n = 0;
  SHOAL_RETURN_IF_ERROR(g.Broadcast(&n, sizeof(n), 0));
  if (n == 0 || n > kMaxJobBytes) {
    return Corrupt("rank 0 announced a job of " + std::to_string(n) + " bytes (limit " +
                   std::to_string(kMaxJobBytes) + ")");
  }
  std::string text(n, '\0');
  SHOAL_RETURN_IF_ERROR(g.Broadcast(text.data(), n, 0));
  return text;
}

struct Loaded {
  std::unique_ptr<comm::Group> stage_group;  // several pipeline stages: this rank's stage
  std::unique_ptr<model::Model> model;
  std::unique_ptr<runtime::Session> session;
};

// Loads this rank's shard (memory checked against this machine), or takes it from `keeper` when
// it holds that shard of `model_id` (the plan counted its bytes as offered memory), and makes its
// session.
StatusOr<Loaded> LoadShard(comm::Group& g, ThreadPool& pool, const std::string& path,
                           const parallel::Plan& plan, int32_t n_ctx, int32_t kv_blocks,
                           ProgressBoard* progress, ShardKeeper* keeper,
                           const gguf::Digest& model_id) {
  Loaded l;
  const model::Shard& shard = plan.ranks[size_t(g.rank())].shard;
  if (keeper != nullptr) l.model = keeper->Take(model_id, shard);
  if (l.model) {
    std::fprintf(stderr, "shoal%s: keeping this node's weights from the last job (%s, %s)\n",
                 g.rank() == 0 ? "" : " worker", model_id.Short().c_str(),
                 shard.ToString().c_str());
    if (progress) progress->Report("map", "mapping and repacking weights", "B", g.rank(), 1, 1);
  } else {
    model::LoadOptions lo;
    if (progress) {
      lo.on_progress = progress->Reporter("map", "mapping and repacking weights", "B", g.rank());
    }
    lo.n_ctx = n_ctx;
    lo.shard = shard;
    SHOAL_ASSIGN_OR_RETURN(l.model, model::Model::Load(path, lo));
  }
  SHOAL_ASSIGN_OR_RETURN(runtime::Parallelism par,
                         runtime::PlanParallelism(plan, g, &l.stage_group));
  SHOAL_ASSIGN_OR_RETURN(l.session,
                         runtime::Session::Create(*l.model, pool, n_ctx, par, kv_blocks));
  return l;
}

// Every rank's load result to rank 0, then rank 0's verdict to all. Returns the first failure
// (naming its node) on rank 0; on the others, Ok with *go telling whether to serve.
Status AgreeLoaded(comm::Group& g, const Status& mine, const std::vector<std::string>& names,
                   bool* go) {
  const int n = g.size();
  uint8_t report[kReportBytes];
  PutReport(mine, report);
  std::vector<uint8_t> all(g.rank() == 0 ? kReportBytes * n : 0);
  std::vector<size_t> sizes(n, kReportBytes);
  SHOAL_RETURN_IF_ERROR(g.GatherV(report, g.rank() == 0 ? all.data() : nullptr, sizes, 0));
  Status first;
  if (g.rank() == 0) {
    for (int r = 0; r < n && first.ok(); ++r) {
      Status s = GetReport(all.data() + size_t(r) * kReportBytes);
      if (!s.ok()) {
        first = s.With("node " + std::to_string(r) + " (" +
                       (size_t(r) < names.size() ? names[r] : g.PeerName(r)) + ")");
      }
    }
  }
  uint32_t verdict = first.ok() ? 1 : 0;
  SHOAL_RETURN_IF_ERROR(g.Broadcast(&verdict, sizeof(verdict), 0));
  *go = verdict == 1;
  return first;
}

// Whether the GGUF at `path` is the model `id` (by content); else *why says what it is.
bool HoldsModel(const std::string& path, const gguf::Digest& id, ThreadPool& pool,
                std::string* why) {
  auto f = gguf::File::Open(path);
  if (!f.ok()) {
    *why = "no copy of model " + id.Short() + " at " + path + " (" + f.status().message() + ")";
    return false;
  }
  const gguf::Digest mine =
      gguf::LookupIdentity(**f, pool, gguf::DefaultIdentityCacheDir()).identity.model;
  if (mine == id) return true;
  *why = path + " is model " + mine.Short() + ", not the model rank 0 runs (" + id.Short() + ")";
  std::fprintf(stderr, "shoal worker: %s: this node will not compute with it\n", why->c_str());
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<Job>> StartJob(comm::Group& g, ThreadPool& pool, const NodeOffer& self,
                                        const JobOptions& o) {
  const int n = g.size();
  std::vector<std::string> names = o.node_names;
  for (int r = int(names.size()); r < n; ++r) names.push_back(r == 0 ? "local" : g.PeerName(r));
  // 1: offers.
  uint8_t mine[kOfferBytes];
  PutOffer(self, mine, o.keeper != nullptr ? o.keeper->held_bytes() : 0);
  std::vector<uint8_t> offers(kOfferBytes * n);
  std::vector<size_t> sizes(n, kOfferBytes);
  SHOAL_RETURN_IF_ERROR(g.GatherV(mine, offers.data(), sizes, 0));
  std::vector<parallel::NodeSpec> nodes;
  for (int r = 0; r < n; ++r) {
    const NodeOffer off = GetOffer(offers.data() + size_t(r) * kOfferBytes);
    nodes.push_back({names[r], off.memory_bytes, std::max(1, off.threads), off.bandwidth_gbs});
  }
  // 2: the plan, or why there is none.
  auto abort = [&](Status why) -> Status {
    JobMessage m;
    m.error = why.ToString();
    SHOAL_RETURN_IF_ERROR(SendJob(g, m));
    return why;
  };
  auto file = gguf::File::Open(o.model_path);
  if (!file.ok()) return abort(file.status());
  auto desc = parallel::DescribeModel(**file);
  if (!desc.ok()) return abort(desc.status().With(o.model_path));
  const gguf::IdentityLookup id =
      gguf::LookupIdentity(**file, pool, gguf::DefaultIdentityCacheDir());
  parallel::PlanOptions po;
  po.n_ctx = o.n_ctx;
  po.kv_tokens = int64_t(o.kv_blocks) * runtime::kBlockTokens;  // 0: one sequence of n_ctx
  po.stages = o.stages;
  po.expert_split = o.expert_split;
  po.reserve_bytes = o.reserve_bytes;
  auto plan = parallel::MakePlan(*desc, nodes, po);
  if (!plan.ok()) return abort(plan.status());
  if (!plan->fits) return abort(ResourceExhausted(plan->why_not));
  JobMessage m;
  m.ok = true;
  m.model_path = o.model_path;
  m.model_id = id.identity.model;
  for (size_t i = 0; i < (*file)->n_splits(); ++i) {
    m.part_bytes.push_back((*file)->SplitBytes(int(i)).size());
  }
  m.n_ctx = o.n_ctx;
  m.kv_blocks = o.kv_blocks;
  m.io_timeout_ms = o.io_timeout_ms;
  m.pool = o.pool_id;
  m.epoch = o.epoch;
  m.heartbeat_ms = o.heartbeat_ms;
  m.plan = plan->ToJson();
  SHOAL_RETURN_IF_ERROR(SendJob(g, m));
  // Weights for the nodes without a copy of the model.
  std::vector<model::Shard> shards;
  for (const parallel::RankPlan& r : plan->ranks) shards.push_back(r.shard);
  ShipProgressFn ship;
  if (o.progress) {
    ship = [p = o.progress](int rank, uint64_t sent, uint64_t total) {
      p->Report("ship", "shipping weights", "B", rank, sent, total);
    };
  }
  SHOAL_RETURN_IF_ERROR(SendShards(g, **file, desc->config, shards, ship));
  file->reset();
  // 3, 4: every rank loads its shard.
  auto job = std::make_unique<Job>();
  job->plan = *plan;
  job->model_id = id.identity.model;
  auto loaded = LoadShard(g, pool, o.model_path, *plan, o.n_ctx, o.kv_blocks, o.progress, o.keeper,
                          id.identity.model);
  // The nodes' load reports: rank 0's own is known now, the others' when they all arrive.
  auto report_loaded = [&](int from) {
    for (int r = from; r < n && o.progress; ++r) {
      o.progress->Report("load", "nodes loading their shards", "nodes", r,
                         r == 0 || from > 0 ? 1 : 0, 1);
    }
  };
  report_loaded(0);
  bool go = false;
  SHOAL_RETURN_IF_ERROR(AgreeLoaded(g, loaded.status(), names, &go));
  report_loaded(1);
  job->plan.config = loaded->model->config();
  job->stage_group = std::move(loaded->stage_group);
  job->model = std::move(loaded->model);
  job->session = std::move(loaded->session);
  job->executor = std::make_unique<runtime::Executor>(*job->session, &g);
  return job;
}

Status SendUpgradeJob(comm::Group& g, uint64_t bytes, const gguf::Digest& digest) {
  std::vector<uint8_t> offers(kOfferBytes * size_t(g.size()));
  uint8_t mine[kOfferBytes];
  PutOffer(NodeOffer{}, mine);
  std::vector<size_t> sizes(g.size(), kOfferBytes);
  SHOAL_RETURN_IF_ERROR(g.GatherV(mine, offers.data(), sizes, 0));
  JobMessage m;
  m.error = "upgrade";
  m.upgrade_bytes = bytes;
  m.upgrade_digest = digest;
  return SendJob(g, m);
}

Status ServeJob(comm::Group& g, ThreadPool& pool, const NodeOffer& self,
                const std::string& model_path, const std::string& cache_dir,
                uint64_t cache_max_bytes,
                const std::function<void(uint64_t pool, uint64_t epoch, int heartbeat_ms)>& on_job,
                UpgradeSlot* upgrade, ShardKeeper* keeper) {
  uint8_t mine[kOfferBytes];
  PutOffer(self, mine, keeper != nullptr ? keeper->held_bytes() : 0);
  std::vector<size_t> sizes(g.size(), kOfferBytes);
  SHOAL_RETURN_IF_ERROR(g.GatherV(mine, nullptr, sizes, 0));
  SHOAL_ASSIGN_OR_RETURN(std::string text, RecvJob(g));
  SHOAL_ASSIGN_OR_RETURN(JobMessage job, ParseJob(text, g.size()));
  if (on_job) on_job(job.pool, job.epoch, job.heartbeat_ms);
  if (job.upgrade_bytes > 0) {
    static const UpgradeSlot kNone;
    const UpgradeSlot& u = upgrade != nullptr ? *upgrade : kNone;
    std::string staged;
    SHOAL_RETURN_IF_ERROR(
        ReceiveUpgrade(g, job.upgrade_bytes, job.upgrade_digest, u.self_exe, &staged));
    if (upgrade != nullptr) upgrade->staged = staged;
    return Status::Ok();
  }
  if (!job.ok) {
    std::fprintf(stderr, "shoal worker: rank 0 ended the job: %s\n", job.error.c_str());
    return Status::Ok();
  }
  auto p = parallel::Plan::FromJson(job.plan);
  if (!p.ok()) return Corrupt(p.status().message());
  const parallel::Plan plan = std::move(p).value();
  if (plan.ranks.size() != size_t(g.size())) return Corrupt("the plan does not match the group");
  const model::Shard& shard = plan.ranks[size_t(g.rank())].shard;
  // This node's copy of the model (the same content), a cached shard from an earlier job, or the
  // weights from rank 0.
  std::string path = model_path.empty() ? job.model_path : model_path;
  // In memory from the last job: neither the file nor rank 0's bytes are needed.
  bool have = keeper != nullptr && keeper->Holds(job.model_id, shard);
  std::string why;
  if (!have) {
    // Another model or shard: the memory it held is the new one's.
    if (keeper != nullptr) keeper->Release();
    have = HoldsModel(path, job.model_id, pool, &why);
  }
  if (!have) {
    std::string note;
    auto cached = CachedModel(cache_dir, job.model_id, shard, &note);
    if (!note.empty()) std::fprintf(stderr, "shoal worker: %s", note.c_str());
    if (cached.ok()) {
      std::fprintf(stderr, "shoal worker: using the cached shard %s\n", cached->c_str());
      path = *cached, have = true;
    }
  }
  ReceiveOptions ro;
  ro.room_bytes = have ? 0 : std::max<uint64_t>(1, CacheRoom(cache_dir, cache_max_bytes));
  ro.cache_dir = cache_dir;
  ro.cache_max_bytes = cache_max_bytes;
  ro.model_id = job.model_id;
  ro.part_bytes = job.part_bytes;
  ro.why = why;
  StatusOr<std::string> local = path;
  SHOAL_RETURN_IF_ERROR(ReceiveShard(g, ro, &local));
  Status st = local.status();
  if (!have && st.ok()) {
    std::fprintf(stderr, "shoal worker: received this node's shard from rank 0 into %s\n",
                 local->c_str());
  }
  StatusOr<Loaded> loaded = Internal("not loaded");
  if (st.ok()) {
    loaded =
        LoadShard(g, pool, *local, plan, job.n_ctx, job.kv_blocks, nullptr, keeper, job.model_id);
    st = loaded.status();
  }
  // The weights outlive the job (the session, which reads them, goes first).
  auto keep = [&] {
    if (keeper == nullptr || !loaded.ok()) return;
    loaded->session.reset();
    keeper->Keep(job.model_id, std::move(loaded->model));
  };
  bool go = false;
  const Status agreed = AgreeLoaded(g, st, {}, &go);
  if (!agreed.ok() || !go) {
    if (!st.ok()) std::fprintf(stderr, "shoal worker: %s\n", st.ToString().c_str());
    keep();
    return agreed;
  }
  const Status served = runtime::Executor::Serve(*loaded->session, g, job.io_timeout_ms);
  keep();
  return served;
}

}  // namespace shoal::cluster
