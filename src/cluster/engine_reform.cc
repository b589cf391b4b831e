#include "cluster/engine_reform.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "parallel/cost.h"
#include "runtime/kv_cache.h"

namespace shoal::cluster {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Predicted decode tokens/s (the cost model, parallel/cost.h) of the plan over rank 0 and
// `workers`: members keep the offer they made for the current plan, others offer what their
// heartbeats report. The link: half the median heartbeat round trip, and `link_gbits`.
StatusOr<double> PredictDecode(const Engine& e, const Engine::ReformState& rs,
                               const std::vector<NodeView>& view,
                               const std::vector<std::string>& workers) {
  const parallel::Plan& now = e.job->plan;
  std::vector<parallel::NodeSpec> nodes = {now.nodes[0]};
  std::vector<double> rtts;
  for (const std::string& w : workers) {
    auto known = std::find_if(now.nodes.begin(), now.nodes.end(),
                              [&](const parallel::NodeSpec& n) { return n.name == w; });
    auto v =
        std::find_if(view.begin(), view.end(), [&](const NodeView& n) { return n.address == w; });
    if (v != view.end() && v->heard) rtts.push_back(v->rtt_ms);
    if (known != now.nodes.end()) {
      nodes.push_back(*known);
    } else if (v != view.end() && v->heard) {
      nodes.push_back(
          {w, v->status.memory_available_bytes, std::max(1, int(v->status.threads)), 0.0});
    } else {
      return NotFound("no offer from " + w);
    }
  }
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> f, gguf::File::Open(rs.path));
  SHOAL_ASSIGN_OR_RETURN(parallel::ModelDesc desc, parallel::DescribeModel(*f));
  parallel::PlanOptions po;
  po.n_ctx = rs.job.n_ctx;
  po.kv_tokens = int64_t(rs.job.kv_blocks) * runtime::kBlockTokens;
  po.stages = rs.job.stages;
  po.expert_split = rs.job.expert_split;
  po.reserve_bytes = rs.job.reserve_bytes;
  SHOAL_ASSIGN_OR_RETURN(parallel::Plan plan, parallel::MakePlan(desc, nodes, po));
  if (!plan.fits) return ResourceExhausted(plan.why_not);
  std::sort(rtts.begin(), rtts.end());
  parallel::LinkSpec link;
  link.latency_us = rtts.empty() ? 50.0 : std::max(1.0, rtts[rtts.size() / 2] * 1000.0 / 2.0);
  link.bandwidth_gbits = rs.link_gbits;
  parallel::PredictOptions pr;
  SHOAL_ASSIGN_OR_RETURN(parallel::Prediction p,
                         parallel::Predict(plan, desc, link, parallel::Calibration{}, pr));
  return p.decode.tok_s;
}

}  // namespace

Status StartMembership(Engine* e, const std::vector<std::string>& nodes,
                       const comm::tcp::Options& link, const ClusterOptions& c) {
  e->reform = std::make_unique<Engine::ReformState>();
  Engine::ReformState* rs = e->reform.get();
  rs->link = link;
  rs->configured = nodes;
  rs->ready_wait_ms = c.ready_wait_ms;
  rs->rebalance_margin = c.rebalance_margin;
  rs->link_gbits = c.link_gbits;
  auto on_event = [e, rs](const MembershipEvent& ev) {
    std::function<void()> notify;
    {
      std::lock_guard<std::mutex> l(rs->mu);
      const bool member = Contains(rs->members, ev.address);
      const bool gone = ev.to == NodeState::kLost || ev.restarted;
      if (member && gone && e->group) {
        // The data path would wait for its I/O timeout: fail the step in progress now.
        std::fprintf(stderr, "shoal: ending job %llu: node %s %s\n",
                     static_cast<unsigned long long>(rs->epoch), ev.address.c_str(),
                     ev.reason.c_str());
        e->group->Abort();
        rs->broken = true;
        rs->broken_why = "node " + ev.address + " " + ev.reason;
      }
      const bool joined = !member && ev.to == NodeState::kAlive;
      if ((member && gone) || joined) notify = rs->on_change;
    }
    if (notify) notify();
  };
  SHOAL_ASSIGN_OR_RETURN(e->membership, Membership::Start(link.secret, c.heartbeats, on_event));
  for (const std::string& n : nodes) SHOAL_RETURN_IF_ERROR(e->membership->Add(n));
  return Status::Ok();
}

std::vector<std::string> ReadyNodes(const Membership& m, const std::vector<std::string>& nodes,
                                    int wait_ms, bool startup, std::vector<std::string>* busy) {
  // Ready: answering, in no job (or in this epoch's). Gone: silent for three heartbeats (a node
  // that just died is not waited for as long as one that is finishing its last step). At startup
  // a node answering from another pool's job may be in the job of a rank 0 that died without
  // closing its connections: it leaves that job after kRank0SilentMs, so it is waited for longer.
  const uint64_t gone_ms = uint64_t(3 * m.options().interval_ms);
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::milliseconds(wait_ms);
  const auto busy_until =
      startup ? std::max(until,
                         start + std::chrono::milliseconds(std::max<uint64_t>(
                                     3 * kRank0SilentMs, 12 * uint64_t(m.options().interval_ms))))
              : until;
  std::vector<std::string> ready, in_job, told;
  for (;;) {
    ready.clear();
    in_job.clear();
    bool settled = true, waiting_busy = false;
    const std::vector<NodeView> view = m.Snapshot();
    for (const std::string& n : nodes) {
      auto it =
          std::find_if(view.begin(), view.end(), [&](const NodeView& v) { return v.address == n; });
      if (it == view.end()) continue;
      const bool fresh = it->heard && it->state == NodeState::kAlive &&
                         it->silent_ms <= uint64_t(m.options().slow_after_ms);
      const bool free = it->status.activity == NodeActivity::kIdle ||
                        (it->status.job_pool == m.pool_id() && it->status.job_epoch == m.epoch());
      if (fresh && free) {
        ready.push_back(n);
      } else if (fresh) {
        in_job.push_back(n);
        waiting_busy = true;  // finishing its last step, or in another pool's job
        if (startup && std::chrono::steady_clock::now() >= until && !Contains(told, n)) {
          told.push_back(n);
          std::fprintf(stderr, "shoal: node %s is in another pool's job: waiting for it to leave\n",
                       n.c_str());
        }
      } else if (it->silent_ms <= gone_ms || (startup && !it->heard)) {
        settled = false;  // only just silent, or not heard yet
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (settled && !waiting_busy) break;
    if (now >= busy_until || (now >= until && !(startup && waiting_busy))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (busy != nullptr) *busy = in_job;
  return ready;
}

Status StartDiscovery(Engine* e, const std::string& group, const std::string& secret, int wait_ms,
                      std::vector<std::string>* nodes) {
  DiscovererOptions o;
  o.group = group;
  o.secret = secret;
  Membership* m = e->membership.get();
  o.on_node = [m](const FoundNode& f) {
    std::fprintf(stderr, "shoal: discovered worker %s (shoal %s)\n", f.address.c_str(),
                 f.version.c_str());
    (void)m->Add(f.address);
  };
  SHOAL_ASSIGN_OR_RETURN(e->discoverer, Discoverer::Start(o));
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max(wait_ms, 2500)));
  for (const FoundNode& f : e->discoverer->Snapshot()) {
    if (!Contains(*nodes, f.address)) nodes->push_back(f.address);
  }
  if (nodes->empty()) {
    return NotFound("no worker announced itself on " + group + " within " +
                    std::to_string(std::max(wait_ms, 2500) / 1000) +
                    " s (start workers with `shoal worker --announce`, the same cluster secret)");
  }
  return Status::Ok();
}

void SetMembers(Engine* e, const std::vector<std::string>& members) {
  std::lock_guard<std::mutex> l(e->reform->mu);
  e->reform->members = members;
}

void SaveForReform(Engine* e, const std::string& path, const NodeOffer& self,
                   const JobOptions& job) {
  Engine::ReformState* rs = e->reform.get();
  rs->path = path;
  rs->self = self;
  rs->job = job;
  std::lock_guard<std::mutex> l(rs->mu);
  rs->epoch = job.epoch;
}

StatusOr<runtime::Executor*> Engine::Reform(const Status& why) {
  if (!membership || !reform) return Unavailable("this pool cannot re-form: " + why.ToString());
  ReformState* rs = reform.get();
  bool failure = !why.ok();
  std::string broken_why;  // the step failed because the membership aborted it: this is why
  {
    std::lock_guard<std::mutex> l(rs->mu);
    failure = failure || rs->broken;
    if (rs->broken) broken_why = rs->broken_why;
  }
  // The nodes that can take part: answering, not draining, in the user's order (then others).
  std::vector<std::string> want;
  std::vector<NodeView> view = membership->Snapshot();
  for (const NodeView& n : view) {
    if (!n.draining && (n.state == NodeState::kAlive || n.state == NodeState::kSlow)) {
      want.push_back(n.address);
    }
  }
  std::vector<std::string> members;
  {
    std::lock_guard<std::mutex> l(rs->mu);
    members = rs->members;
    // The same nodes as the last failed attempt: the same answer, unless it is old enough to
    // try again (a node may have been leaving its old job then).
    if (!executor && rs->failed_key == Join(want) && !rs->failed.ok() &&
        std::chrono::steady_clock::now() - rs->failed_at < std::chrono::seconds(5)) {
      return rs->failed;
    }
  }
  if (!failure && executor && want == members) return nullptr;  // nothing changed
  const bool grows_only = want.size() > members.size() &&
                          std::all_of(members.begin(), members.end(),
                                      [&](const std::string& m) { return Contains(want, m); });
  bool forced = false;
  {
    std::lock_guard<std::mutex> l(rs->mu);
    forced = rs->force_join;
    rs->force_join = false;
  }
  if (!failure && executor && job && grows_only && !forced) {
    // A node joined: worth moving slices only when the cost model predicts a faster pool.
    auto now = PredictDecode(*this, *rs, view, members);
    auto next = PredictDecode(*this, *rs, view, want);
    if (!now.ok() || !next.ok() || *next < *now * (1.0 + rs->rebalance_margin)) {
      if (now.ok() && next.ok()) {
        std::fprintf(stderr,
                     "shoal: staying on the current plan (%zu workers): %.1f tok/s predicted with "
                     "%zu workers vs %.1f now, under the %.0f%% margin\n",
                     members.size(), *next, want.size(), *now, rs->rebalance_margin * 100.0);
      } else {
        std::fprintf(stderr, "shoal: staying on the current plan (%zu workers): %s\n",
                     members.size(), (!next.ok() ? next.status() : now.status()).message().c_str());
      }
      return nullptr;
    }
    std::fprintf(
        stderr, "shoal: re-planning over %zu workers: %.1f tok/s predicted vs %.1f now (%+.0f%%)\n",
        want.size(), *next, *now, (*next / *now - 1.0) * 100.0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string reason =
      failure ? (!broken_why.empty() ? broken_why
                 : why.ok()          ? "a member was lost"
                                     : why.message())
              : (want.size() < members.size() ? "a node is draining" : "a node joined");
  {
    std::lock_guard<std::mutex> l(rs->mu);
    rs->state = "re-forming";
    rs->detail = reason;
  }
  std::fprintf(stderr, "shoal: re-forming the pool (%s)\n", reason.c_str());
  // The old job ends: cleanly when it still works (the workers go back to waiting at once),
  // else the pings of the next epoch free the workers still blocked in it.
  if (executor && !failure) (void)executor->Finish();
  {
    std::lock_guard<std::mutex> l(rs->mu);
    executor.reset();
    session.reset();
    // Rank 0's weights wait for the next plan: kept when it gives rank 0 the same shard.
    if (job && model) rs->keeper.Keep(job->model_id, std::move(model));
    job.reset();
    model.reset();
    group.reset();
    rs->members.clear();
    rs->broken = false;
    rs->broken_why.clear();
    ++rs->epoch;
    membership->SetEpoch(rs->epoch);
  }
  const std::vector<std::string> ready = ReadyNodes(*membership, want, rs->ready_wait_ms, false);
  auto fail = [&](Status st) -> Status {
    std::lock_guard<std::mutex> l(rs->mu);
    rs->state = "waiting for nodes";
    rs->detail = st.message();
    rs->failed_key = Join(want);
    rs->failed = st;
    rs->failed_at = std::chrono::steady_clock::now();
    std::fprintf(stderr, "shoal: the pool cannot run yet: %s\n", st.message().c_str());
    return st;
  };
  if (ready.empty()) {
    return fail(Unavailable("no worker answers (of " + std::to_string(view.size()) + " watched)"));
  }
  auto g = comm::tcp::Launch(ready, rs->link);
  if (!g.ok()) return fail(Unavailable("connecting the pool: " + g.status().message()));
  JobOptions jo = rs->job;
  jo.node_names = {"local"};
  jo.node_names.insert(jo.node_names.end(), ready.begin(), ready.end());
  jo.epoch = membership->epoch();
  jo.keeper = &rs->keeper;
  auto j = StartJob(**g, *pool, rs->self, jo);
  if (!j.ok()) {
    return fail(Unavailable("the " + std::to_string(ready.size()) +
                            " answering nodes cannot run the model: " + j.status().message()));
  }
  std::unique_ptr<Job> started = std::move(j).value();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> l(rs->mu);
    group = std::move(g).value();
    job = std::move(started);
    model = std::move(job->model);
    session = std::move(job->session);
    executor = std::move(job->executor);
    rs->members = ready;
    rs->state = "serving";
    rs->detail.clear();
    rs->plan_json = job->plan.ToJson().dump();
    ++rs->reforms;
    rs->last_reform_ms = ms;
    rs->last_reform_reason = reason;
    rs->failed_key.clear();
    rs->failed = Status::Ok();
  }
  std::fprintf(stderr, "shoal: the pool runs job %llu on %zu workers (%s) after %.0f ms\n",
               static_cast<unsigned long long>(jo.epoch), ready.size(), Join(ready).c_str(), ms);
  return executor.get();
}

PoolView Engine::View() const {
  PoolView v;
  if (membership) v.nodes = membership->Snapshot();
  if (!reform) {
    v.epoch = 1;
    v.state = "serving";
    if (job) v.plan_json = job->plan.ToJson().dump();
    return v;
  }
  std::lock_guard<std::mutex> l(reform->mu);
  v.epoch = reform->epoch;
  v.state = reform->state;
  v.detail = reform->detail;
  v.members = reform->members;
  v.plan_json = reform->plan_json;
  v.reforms = reform->reforms;
  v.last_reform_ms = reform->last_reform_ms;
  v.last_reform_reason = reform->last_reform_reason;
  v.upgrade_state = reform->upgrade_state;
  v.upgrade_node = reform->upgrade_node;
  v.upgrade_done = reform->upgrade_done;
  v.upgrade_total = reform->upgrade_total;
  v.upgrade_detail = reform->upgrade_detail;
  return v;
}

bool Engine::WithModel(const std::function<void(const model::Model&)>& f) const {
  if (!reform) {
    if (!model) return false;
    f(*model);
    return true;
  }
  std::lock_guard<std::mutex> l(reform->mu);
  if (!model) return false;
  f(*model);
  return true;
}

Status Engine::Drain(const std::string& address, bool drain) {
  if (!membership || !reform) return InvalidArgument("this pool's nodes are not watched");
  SHOAL_RETURN_IF_ERROR(membership->SetDraining(address, drain));
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> l(reform->mu);
    notify = reform->on_change;
  }
  if (notify) notify();
  return Status::Ok();
}

void Engine::SetOnPoolChange(std::function<void()> f) {
  if (!reform) return;
  std::lock_guard<std::mutex> l(reform->mu);
  reform->on_change = std::move(f);
}

}  // namespace shoal::cluster
