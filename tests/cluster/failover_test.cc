// A pool that heals (issue 11), on this machine: real `shoal worker` processes on 127.0.0.1 and a
// rank 0 watching them with heartbeats. A worker killed (or paused) mid-generation: the pool
// re-forms over the others and the run ends with one node's tokens. Drain, a late worker joining
// and a rejoining one, seen through `shoal nodes --json` and `shoal drain`.
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <set>

#include "cluster/pool_process.h"

namespace shoal::pool_test {
namespace {

const char* kSecret = "SHOAL_SECRET=failover-test-secret-0123456789abcdefghijk";

// f32 weights: over 800 tokens the node count does not move a greedy token (tensor-parallel
// partial sums are added in another order on another node count; with f16 or quantized weights a
// near-tie far into a long generation can flip, as it can between any two node counts), so "the
// tokens of an uninterrupted run" are one node's.
const std::string& F32Model() {
  static const std::string path = [] {
    const std::string p = Tmp() + "/failover-f32.gguf";
    Proc g = RunShoal({"gen-model", "-o", p, "--n-embd", "512", "--n-layer", "4", "--n-head", "8",
                       "--n-head-kv", "2", "--n-ff", "1536", "--type", "f32", "--seed", "11"},
                      "gen-f32");
    EXPECT_EQ(g.code, 0) << g.err();
    return p;
  }();
  return path;
}

struct Worker {
  Proc p;
  std::string address;
};

Worker StartWorker(const std::string& tag, const std::string& listen = "127.0.0.1:0") {
  Worker w;
  w.p = Start({"worker", "--listen", listen, "-t", "1"}, tag, {kSecret});
  w.address = ListenAddress(w.p);
  EXPECT_FALSE(w.address.empty()) << w.p.err();
  return w;
}

void Stop(Worker& w) {
  kill(w.p.pid, SIGCONT);
  kill(w.p.pid, SIGTERM);
  w.p.Wait(10);
}

// A greedy run of 800 tokens, started (not waited for).
Proc StartRun(const std::vector<std::string>& extra, const std::string& tag) {
  std::vector<std::string> args = {"run",    "-m",  F32Model(), "-p",   "Pools of machines heal",
                                   "-n",     "800", "-c",       "1024", "--ignore-eos",
                                   "--temp", "0",   "-t",       "1",    "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return Start(args, tag, {kSecret});
}

std::vector<int> TokensOf(Proc& p, double timeout_s) {
  EXPECT_TRUE(p.Wait(timeout_s)) << "did not finish: " << p.err();
  EXPECT_EQ(p.code, 0) << p.err();
  json j = Json(p);
  return j.is_object() ? j["tokens"].get<std::vector<int>>() : std::vector<int>{};
}

// A worker lost mid-generation, by SIGKILL and by SIGSTOP (silent, connections open): rank 0
// detects it by heartbeats, re-forms over the other two and replays the sequence; the run ends
// with one node's tokens.
TEST(Failover, RunLosesAWorkerAndEndsWithOneNodesTokens) {
  Proc one = StartRun({}, "failover-one");
  const std::vector<int> want = TokensOf(one, 120);
  ASSERT_EQ(want.size(), 800u);
  for (int sig : {SIGKILL, SIGSTOP}) {
    const std::string name = sig == SIGKILL ? "killed" : "paused";
    SCOPED_TRACE(name);
    std::vector<Worker> w;
    for (int i = 0; i < 3; ++i) w.push_back(StartWorker("failover-w" + name + std::to_string(i)));
    Proc run = StartRun({"--nodes", w[0].address + "," + w[1].address + "," + w[2].address},
                        "failover-run-" + name);
    // Wait until it generates, then take a worker away.
    for (int i = 0; i < 600 && run.err().find("alive: joined") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    kill(w[1].p.pid, sig);
    const std::vector<int> got = TokensOf(run, 120);
    EXPECT_EQ(got, want);
    const std::string err = run.err();
    EXPECT_NE(err.find("re-forming the pool"), std::string::npos) << err;
    EXPECT_NE(err.find("the pool runs job 2 on 2 workers"), std::string::npos) << err;
    if (sig == SIGSTOP) {
      EXPECT_NE(err.find(w[1].address + " lost"), std::string::npos) << err;
    }
    for (Worker& x : w) Stop(x);
  }
}

// The URL a `shoal serve` announced once ready ("listening on http://H:P"); empty after 30 s.
std::string ServerUrl(const Proc& serve) {
  for (int i = 0; i < 3000; ++i) {
    const std::string e = serve.err();
    const size_t at = e.find("listening on http://");
    if (at != std::string::npos) return e.substr(at + 13, e.find(' ', at + 20) - at - 13);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

json Nodes(const std::string& server) {
  Proc p = RunShoal({"nodes", "--json", "--server", server}, "failover-nodes", 30);
  EXPECT_EQ(p.code, 0) << p.err();
  return Json(p);
}

std::set<std::string> Members(const json& pool) {
  std::set<std::string> out;
  for (const json& m : pool.value("members", json::array())) out.insert(m.get<std::string>());
  return out;
}

// Waits (up to 20 s) until the pool's members are `want`.
json WaitMembers(const std::string& server, const std::set<std::string>& want) {
  json pool;
  for (int i = 0; i < 100; ++i) {
    pool = Nodes(server);
    if (Members(pool) == want && pool.value("state", "") == "serving") return pool;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << "members never became the wanted set: " << pool.dump();
  return pool;
}

// serve over two running workers and a third listed but not started: the pool starts with two;
// drain takes one out and back; the third joins when it starts; a restarted worker rejoins.
TEST(Failover, ServeDrainJoinAndRestart) {
  Worker a = StartWorker("failover-sa"), b = StartWorker("failover-sb");
  // A free port for the late worker: bind, read the port, close (the worker binds it later).
  Worker probe = StartWorker("failover-probe");
  const std::string late_addr = probe.address;
  Stop(probe);
  Proc serve = Start({"serve", "-m", F32Model(), "--port", "0", "-t", "1", "--nodes",
                      a.address + "," + b.address + "," + late_addr, "--rebalance-margin", "-1"},
                     "failover-serve", {kSecret});
  const std::string server = ServerUrl(serve);
  ASSERT_FALSE(server.empty()) << serve.err();
  json pool = WaitMembers(server, {a.address, b.address});
  EXPECT_EQ(pool["nodes"].size(), 3u);
  for (const json& n : pool["nodes"]) {
    if (n["address"] == late_addr) {
      EXPECT_EQ(n["state"], "unknown") << n.dump();
    }
    if (n["address"] == a.address) {
      EXPECT_EQ(n["state"], "alive");
      EXPECT_GT(n.value("memory_total_bytes", uint64_t{0}), 0u);
      EXPECT_FALSE(n.value("version", std::string()).empty());
    }
  }
  // Drain b: the pool re-forms over a alone; undo: b is back.
  Proc d = RunShoal({"drain", b.address, "--server", server}, "failover-drain", 30);
  EXPECT_EQ(d.code, 0) << d.err();
  WaitMembers(server, {a.address});
  Proc u = RunShoal({"drain", b.address, "--undo", "--server", server}, "failover-undo", 30);
  EXPECT_EQ(u.code, 0) << u.err();
  WaitMembers(server, {a.address, b.address});
  // An unknown node is refused.
  Proc bad = RunShoal({"drain", "10.255.255.1:1", "--server", server}, "failover-drain-bad", 30);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err().find("no node"), std::string::npos) << bad.err();
  // The late worker starts: it joins.
  Worker late = StartWorker("failover-late", late_addr);
  pool = WaitMembers(server, {a.address, b.address, late_addr});
  // a restarted at the same address: a new instance; the pool re-forms with it again.
  const int64_t reforms = pool.value("reforms", int64_t{0});
  kill(a.p.pid, SIGKILL);
  a.p.Wait(10);
  Worker again = StartWorker("failover-again", a.address);
  for (int i = 0; i < 100; ++i) {
    pool = Nodes(server);
    if (pool.value("reforms", int64_t{0}) > reforms &&
        Members(pool) == std::set<std::string>{a.address, b.address, late_addr}) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(Members(pool), (std::set<std::string>{a.address, b.address, late_addr})) << pool.dump();
  EXPECT_GT(pool.value("reforms", int64_t{0}), reforms);
  // The same plan as before a went: rank 0 and the other workers kept their slices.
  EXPECT_NE(serve.err().find("shoal: keeping this node's weights from the last job"),
            std::string::npos)
      << serve.err();
  EXPECT_NE(late.p.err().find("keeping this node's weights from the last job"), std::string::npos)
      << late.p.err();
  kill(serve.pid, SIGTERM);
  EXPECT_TRUE(serve.Wait(30)) << serve.err();
  // Rank 0 gone: the workers wait for the next one, which forms a pool from them.
  Proc next = RunShoal({"run", "-m", F32Model(), "-p", "again", "-n", "4", "-t", "1", "--nodes",
                        b.address + "," + late_addr + "," + a.address},
                       "failover-next", 60, {kSecret});
  EXPECT_EQ(next.code, 0) << next.err();
  EXPECT_EQ(next.err().find("starting with"), std::string::npos) << next.err();
  for (Worker* x : {&b, &late, &again}) Stop(*x);
}

// A node that joins is taken only when the cost model predicts a pool faster by the margin: with
// an impossible margin the pool stays as it is and says why.
TEST(Failover, AJoiningNodeUnderTheMarginIsNotTaken) {
  Worker a = StartWorker("failover-ma");
  Worker probe = StartWorker("failover-mprobe");
  const std::string late_addr = probe.address;
  Stop(probe);
  Proc serve = Start({"serve", "-m", F32Model(), "--port", "0", "-t", "1", "--nodes",
                      a.address + "," + late_addr, "--rebalance-margin", "100"},
                     "failover-mserve", {kSecret});
  const std::string server = ServerUrl(serve);
  ASSERT_FALSE(server.empty()) << serve.err();
  WaitMembers(server, {a.address});
  Worker late = StartWorker("failover-mlate", late_addr);
  for (int i = 0; i < 100 && serve.err().find("staying on the current plan") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(serve.err().find("staying on the current plan (1 workers)"), std::string::npos)
      << serve.err();
  EXPECT_EQ(Members(Nodes(server)), std::set<std::string>{a.address});
  kill(serve.pid, SIGTERM);
  EXPECT_TRUE(serve.Wait(30)) << serve.err();
  for (Worker* x : {&a, &late}) Stop(*x);
}

// A greedy completion from a running `shoal serve` ("" and a failure on any error).
std::string Complete(const std::string& server, const std::string& prompt) {
  httplib::Client cli(server);
  cli.set_read_timeout(120);
  const json body = {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}};
  auto res = cli.Post("/v1/completions", body.dump(), "application/json");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "request failed: " << (res ? res->body : httplib::to_string(res.error()));
    return "";
  }
  const json j = json::parse(res->body, nullptr, false);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length") << res->body;
  return j["choices"][0]["text"].get<std::string>();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Rank 0 dies (kill -9, then a silent one: SIGSTOP, its connections left open) and a new rank 0
// forms the pool from the running workers: they keep the weights of the shard the unchanged plan
// gives them again (no load), and the answers are the same. A plan that changes loads again.
TEST(Failover, ARestartedRank0FindsTheWorkersWeightsLoaded) {
  const char* kKept = "keeping this node's weights from the last job";
  Worker a = StartWorker("failover-ka"), b = StartWorker("failover-kb");
  const std::vector<std::string> args = {"serve",
                                         "-m",
                                         F32Model(),
                                         "--port",
                                         "0",
                                         "-t",
                                         "1",
                                         "--nodes",
                                         a.address + "," + b.address,
                                         "--rebalance-margin",
                                         "-1"};
  Proc first = Start(args, "failover-kserve1", {kSecret});
  std::string server = ServerUrl(first);
  ASSERT_FALSE(server.empty()) << first.err();
  WaitMembers(server, {a.address, b.address});
  const std::string want = Complete(server, "Pools of machines restart");
  // The slices each rank holds (the offers' memory figures move from one start to the next).
  auto ranks = [](const json& pool) {
    json r = pool.value("plan", json::object()).value("ranks", json::array());
    for (json& x : r) x.erase("share");
    return r.dump();
  };
  const std::string plan = ranks(Nodes(server));
  EXPECT_EQ(Count(a.p.err(), kKept), 0u) << a.p.err();
  kill(first.pid, SIGKILL);
  first.Wait(10);
  // A new rank 0 at once: the workers left the dead one's job when its sockets closed.
  Proc second = Start(args, "failover-kserve2", {kSecret});
  server = ServerUrl(second);
  ASSERT_FALSE(server.empty()) << second.err();
  WaitMembers(server, {a.address, b.address});
  EXPECT_EQ(ranks(Nodes(server)), plan);
  EXPECT_EQ(Complete(server, "Pools of machines restart"), want);
  for (Worker* w : {&a, &b}) EXPECT_EQ(Count(w->p.err(), kKept), 1u) << w->p.err();
  // Rank 0 silent: the workers leave its job once its pings stop, and the next rank 0 gets them.
  kill(second.pid, SIGSTOP);
  Proc third = Start(args, "failover-kserve3", {kSecret});
  server = ServerUrl(third);
  ASSERT_FALSE(server.empty()) << third.err();
  WaitMembers(server, {a.address, b.address});
  EXPECT_EQ(Complete(server, "Pools of machines restart"), want);
  for (Worker* w : {&a, &b}) {
    EXPECT_NE(w->p.err().find("silent for"), std::string::npos) << w->p.err();
    EXPECT_EQ(Count(w->p.err(), kKept), 2u) << w->p.err();
  }
  // A fourth rank 0 while the third serves: it waits for the busy workers, then says why it
  // cannot start, and the third keeps serving.
  Proc fourth = RunShoal({"run", "-m", F32Model(), "-p", "again", "-n", "2", "-t", "1", "--nodes",
                          a.address + "," + b.address},
                         "failover-kfourth", 60, {kSecret});
  EXPECT_NE(fourth.code, 0);
  EXPECT_NE(fourth.err().find("is in another pool's job: waiting for it to leave"),
            std::string::npos)
      << fourth.err();
  EXPECT_NE(fourth.err().find("every node that answers is in another pool's job"),
            std::string::npos)
      << fourth.err();
  EXPECT_EQ(Complete(server, "Pools of machines restart"), want);
  kill(second.pid, SIGKILL);
  second.Wait(10);
  kill(third.pid, SIGTERM);
  EXPECT_TRUE(third.Wait(30)) << third.err();
  // One worker alone holds a larger shard: loaded, not kept, and the tokens are one node's.
  Proc alone = RunShoal({"run", "-m", F32Model(), "-p", "again", "-n", "4", "-t", "1", "--nodes",
                         a.address, "--json"},
                        "failover-kalone", 60, {kSecret});
  EXPECT_EQ(alone.code, 0) << alone.err();
  EXPECT_EQ(Count(a.p.err(), kKept), 2u) << a.p.err();
  for (Worker* w : {&a, &b}) Stop(*w);
}

// `shoal upgrade`: three workers, each running from its own copy of shoal, upgraded one at a time
// to a binary that reports another version, while a client keeps asking: every request gets the
// text of the pool before the upgrade, and every node ends up running the new binary.
TEST(Failover, RollingUpgradeKeepsServing) {
  const std::string dir = Tmp() + "/upgrade";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<Worker> w;
  for (int i = 0; i < 3; ++i) {
    const std::string copy = dir + "/w" + std::to_string(i);
    fs::copy_file(Bin(), copy);
    Worker x;
    x.p = StartAs(copy, {"worker", "--listen", "127.0.0.1:0", "-t", "1"},
                  "upgrade-w" + std::to_string(i), {kSecret});
    x.address = ListenAddress(x.p);
    ASSERT_FALSE(x.address.empty()) << x.p.err();
    w.push_back(x);
  }
  // The "new" binary: the same program reporting another version.
  const std::string real = dir + "/real-shoal", next = dir + "/new-shoal";
  fs::copy_file(Bin(), real);
  std::ofstream(next) << "#!/bin/sh\nSHOAL_TEST_VERSION=upgraded-v2 exec " << real << " \"$@\"\n";
  fs::permissions(next, fs::perms::owner_all);
  Proc serve =
      Start({"serve", "-m", F32Model(), "--port", "0", "-t", "1", "--nodes",
             w[0].address + "," + w[1].address + "," + w[2].address, "--rebalance-margin", "-1"},
            "upgrade-serve", {kSecret});
  const std::string server = ServerUrl(serve);
  ASSERT_FALSE(server.empty()) << serve.err();
  WaitMembers(server, {w[0].address, w[1].address, w[2].address});
  const std::string want = Complete(server, "Pools of machines upgrade");
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::thread client([&] {
    while (!stop.load()) {
      EXPECT_EQ(Complete(server, "Pools of machines upgrade"), want);
      ++served;
    }
  });
  Proc up = RunShoal({"upgrade", next, "--server", server}, "upgrade-cli", 300);
  stop = true;
  client.join();
  EXPECT_EQ(up.code, 0) << up.err() << serve.err();
  EXPECT_GT(served.load(), 0);
  const json pool = Nodes(server);
  EXPECT_EQ(pool["upgrade"]["state"], "done") << pool.dump();
  EXPECT_EQ(pool["upgrade"]["done"], 3);
  EXPECT_EQ(Members(pool), (std::set<std::string>{w[0].address, w[1].address, w[2].address}));
  for (const json& n : pool["nodes"]) EXPECT_EQ(n["version"], "upgraded-v2") << n.dump();
  // Each worker's executable is now the new binary (it restarted itself from it).
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ReadAll(dir + "/w" + std::to_string(i)), ReadAll(next));
  }
  kill(serve.pid, SIGTERM);
  EXPECT_TRUE(serve.Wait(30)) << serve.err();
  for (Worker& x : w) Stop(x);
}

}  // namespace
}  // namespace shoal::pool_test
