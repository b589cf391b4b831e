// Engine::StartUpgrade: the rolling upgrade of a watched pool, one node at a time (engine.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cluster/engine_reform.h"
#include "cluster/upgrade.h"

namespace shoal::cluster {
namespace {

bool Member(const PoolView& v, const std::string& node) {
  return std::find(v.members.begin(), v.members.end(), node) != v.members.end();
}

const NodeView* Find(const PoolView& v, const std::string& node) {
  for (const NodeView& n : v.nodes) {
    if (n.address == node) return &n;
  }
  return nullptr;
}

}  // namespace

Status Engine::StartUpgrade(const std::string& binary) {
  if (!membership || !reform) {
    return InvalidArgument("this pool's nodes are not watched (start it with --nodes)");
  }
  if (binary.empty() || binary[0] != '/') {
    return InvalidArgument("the binary must be an absolute path on rank 0's machine");
  }
  ReformState* rs = reform.get();
  std::vector<std::string> nodes;
  {
    std::lock_guard<std::mutex> l(rs->mu);
    if (rs->upgrade_state == "running") return InvalidArgument("an upgrade is running already");
    nodes = rs->members;  // the workers of the pool now, in rank order
    rs->upgrade_state = "running";
    rs->upgrade_done = 0;
    rs->upgrade_total = int(nodes.size());
    rs->upgrade_node.clear();
    rs->upgrade_detail = "starting";
  }
  if (upgrade_thread.joinable()) upgrade_thread.join();  // the last one, finished
  upgrade_thread = std::thread([this, rs, binary, nodes] {
    auto step = [&](const std::string& node, const std::string& what) {
      std::lock_guard<std::mutex> l(rs->mu);
      rs->upgrade_node = node;
      rs->upgrade_detail = what;
      std::fprintf(stderr, "shoal: upgrade: %s: %s\n", node.c_str(), what.c_str());
    };
    // Waits up to `seconds` for `ok` on the pool's view; false on timeout or shutdown.
    auto wait = [&](int seconds, const std::function<bool(const PoolView&)>& ok) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      while (!rs->stopping.load() && std::chrono::steady_clock::now() < until) {
        if (ok(View())) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return false;
    };
    Status st = Status::Ok();
    for (const std::string& node : nodes) {
      const PoolView before = View();
      const NodeView* n = Find(before, node);
      if (n == nullptr || n->state != NodeState::kAlive) {
        st = Unavailable(node + " does not answer: upgrade stopped before it");
        break;
      }
      const uint64_t old_instance = n->status.instance;
      step(node, "draining");
      st = Drain(node, true);
      if (st.ok() && !wait(120, [&](const PoolView& v) {
            const NodeView* x = Find(v, node);
            return !Member(v, node) && v.state == "serving" && x != nullptr &&
                   x->status.activity == NodeActivity::kIdle;
          })) {
        st = Unavailable("the pool did not re-form without " + node + " within 120 s");
      }
      std::string version;
      if (st.ok()) {
        step(node, "sending the binary");
        auto g = comm::tcp::Launch(std::vector<std::string>{node}, rs->link);
        st = g.ok() ? SendUpgrade(**g, binary, &version) : g.status();
      }
      if (st.ok()) {
        step(node, "restarting as " + version);
        if (!wait(60, [&](const PoolView& v) {
              const NodeView* x = Find(v, node);
              return x != nullptr && x->status.instance != old_instance &&
                     x->state == NodeState::kAlive && "shoal " + x->status.version == version;
            })) {
          st = Unavailable(node + " did not come back as " + version + " within 60 s");
        }
      }
      {
        std::lock_guard<std::mutex> l(rs->mu);
        rs->force_join = true;  // back into the pool whatever the margin
      }
      const Status undo = Drain(node, false);
      if (st.ok()) st = undo;
      if (st.ok()) {
        step(node, "joining the pool again");
        if (!wait(120,
                  [&](const PoolView& v) { return Member(v, node) && v.state == "serving"; })) {
          st = Unavailable("the pool did not take " + node + " back within 120 s");
        }
      }
      if (!st.ok()) break;
      std::lock_guard<std::mutex> l(rs->mu);
      ++rs->upgrade_done;
    }
    std::lock_guard<std::mutex> l(rs->mu);
    rs->upgrade_state = st.ok() ? "done" : "failed";
    rs->upgrade_detail = st.ok() ? "every node runs the new binary" : st.message();
    std::fprintf(stderr, "shoal: upgrade %s: %s\n", rs->upgrade_state.c_str(),
                 rs->upgrade_detail.c_str());
  });
  return Status::Ok();
}

}  // namespace shoal::cluster
