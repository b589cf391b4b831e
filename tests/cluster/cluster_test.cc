// Runs the built `shoal` (SHOAL_BIN) as a pool on this machine (127.0.0.1 and shared memory only).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/pool_process.h"
#include "common/test_files.h"

namespace {

using namespace shoal::pool_test;  // NOLINT: the helpers of every pool test

TEST(Pool, LocalWorkersGiveOneNodesTokens) {
  const std::vector<int> one = Tokens({}, "one");
  ASSERT_EQ(one.size(), 24u);
  EXPECT_EQ(Tokens({"--local", "1"}, "tcp2"), one);
  EXPECT_EQ(Tokens({"--local", "2"}, "tcp3"), one);
  EXPECT_EQ(Tokens({"--local", "3", "--transport", "shm"}, "shm4"), one);
  EXPECT_EQ(Tokens({"--local", "2", "--stages", "2"}, "pp2"), one);
  EXPECT_EQ(Tokens({"--local", "4", "--stages", "3", "--transport", "shm"}, "pp3"), one);
}

// Models in the i-quants shoal writes (iq4_nl; iq4_xs mixed with a q6_K output, as the dynamic
// files mix i-quants and k-quants) give one node's greedy tokens on a pool.
TEST(Pool, IQuantModelsGiveOneNodesTokens) {
  for (const auto& [type, out] :
       {std::pair<std::string, std::string>{"iq4_nl", "iq4_nl"}, {"iq4_xs", "q6_k"}}) {
    const std::string path = Tmp() + "/pool-" + type + ".gguf";
    Proc g = RunShoal(
        {"gen-model", "-o", path, "--n-embd", "256", "--n-layer", "3", "--n-head", "8",
         "--n-head-kv", "2", "--n-ff", "768", "--type", type, "--output-type", out, "--seed", "5"},
        "gen-" + type);
    ASSERT_EQ(g.code, 0) << g.err();
    const std::vector<int> one = Tokens({}, type + "-one", path);
    ASSERT_EQ(one.size(), 24u) << type;
    EXPECT_EQ(Tokens({"--local", "1"}, type + "-tcp2", path), one) << type;
    EXPECT_EQ(Tokens({"--local", "2", "--transport", "shm"}, type + "-shm3", path), one) << type;
  }
  // As the "dynamic" DeepSeek / Kimi files mix them: routed experts in iq2_xxs, attention and
  // the rest in q4_K, the output in q6_K; split by expert columns and by whole experts.
  const std::string path = Tmp() + "/pool-dynamic-iq2_xxs.gguf";
  Proc g =
      RunShoal({"gen-model", "-o",         path,   "--arch",          "qwen3moe", "--n-embd",
                "256",       "--n-layer",  "2",    "--n-head",        "8",        "--n-head-kv",
                "2",         "--n-expert", "8",    "--n-expert-used", "2",        "--n-ff-exp",
                "256",       "--type",     "q4_k", "--expert-type",   "iq2_xxs",  "--output-type",
                "q6_k",      "--seed",     "6"},
               "gen-dynamic");
  ASSERT_EQ(g.code, 0) << g.err();
  Proc info = RunShoal({"inspect", path}, "inspect-dynamic");
  EXPECT_NE(info.out().find("iq2_xxs"), std::string::npos) << info.out();
  EXPECT_NE(info.out().find("q4_K"), std::string::npos) << info.out();
  const std::vector<int> one = Tokens({}, "dynamic-one", path);
  ASSERT_EQ(one.size(), 24u);
  for (const char* split : {"columns", "experts"}) {
    EXPECT_EQ(
        Tokens({"--local", "1", "--experts", split}, std::string("dynamic-tcp2-") + split, path),
        one)
        << split;
    EXPECT_EQ(Tokens({"--local", "2", "--transport", "shm", "--experts", split},
                     std::string("dynamic-shm3-") + split, path),
              one)
        << split;
  }
}

// Under an MPI launcher every rank runs the same command (--mpi); skipped without mpirun.
// Mixture-of-experts models split by expert parallelism (whole experts per node) and by expert
// columns (attention by head, MLA included): the same greedy tokens at 1, 2, 3 and 4 nodes over
// tcp and shared memory, and with pipeline stages.
TEST(Pool, ExpertParallelGivesOneNodesTokens) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> models = {
      {"deepseek2",
       {"--arch", "deepseek2", "--n-head", "8", "--n-expert", "16", "--n-expert-used", "4",
        "--n-ff-exp", "128", "--n-expert-shared", "1", "--expert-groups", "4",
        "--expert-groups-used", "2", "--type", "q8_0"}},
      {"qwen3moe",
       {"--arch", "qwen3moe", "--n-head", "8", "--n-head-kv", "2", "--n-expert", "16",
        "--n-expert-used", "4", "--n-ff-exp", "128", "--type", "q4_0"}}};
  for (const auto& [arch, flags] : models) {
    SCOPED_TRACE(arch);
    const std::string path = Tmp() + "/pool-" + arch + ".gguf";
    std::vector<std::string> gen = {"gen-model", "-o", path, "--n-embd", "256", "--n-layer", "4"};
    gen.insert(gen.end(), flags.begin(), flags.end());
    Proc g = RunShoal(gen, "gen-" + arch);
    ASSERT_EQ(g.code, 0) << g.err();
    const std::vector<int> one = Tokens({}, arch + "1", path);
    ASSERT_EQ(one.size(), 24u);
    for (const std::string split : {"experts", "columns"}) {
      for (const std::string t : {"tcp", "shm"}) {
        for (int workers = 1; workers <= 3; ++workers) {
          const std::string tag = arch + "-" + split + "-" + t + std::to_string(workers + 1);
          EXPECT_EQ(
              Tokens({"--local", std::to_string(workers), "--transport", t, "--experts", split},
                     tag, path),
              one)
              << tag;
        }
      }
      EXPECT_EQ(Tokens({"--local", "3", "--stages", "2", "--experts", split}, arch + "-pp-" + split,
                       path),
                one);
      // A worker without the file receives its shard (its experts' rows, or its columns of every
      // expert: one byte range per expert and row) and gives the same tokens.
      const std::string cache = Tmp() + "/shard-cache-" + arch + "-" + split;
      fs::remove_all(cache);
      const std::string tag = "ship-" + arch + "-" + split;
      Proc w = Start({"worker", "--listen", "127.0.0.1:0", "--once", "-t", "1", "-m",
                      Tmp() + "/no-such-model.gguf", "--cache", cache},
                     tag + "-worker", {"SHOAL_SECRET=ship-secret-0123456789abcdefghijklmnop"});
      const std::string addr = ListenAddress(w);
      ASSERT_FALSE(addr.empty()) << w.err();
      std::vector<std::string> args = {"run", "-m", path};
      args.insert(args.end(), kGreedy.begin(), kGreedy.end());
      args.insert(args.end(), {"--nodes", addr, "--experts", split});
      Proc r = RunShoal(args, tag, 60, {"SHOAL_SECRET=ship-secret-0123456789abcdefghijklmnop"});
      ASSERT_EQ(r.code, 0) << r.err() << w.err();
      EXPECT_EQ(Json(r)["tokens"].get<std::vector<int>>(), one);
      ASSERT_TRUE(w.Wait(20));
      EXPECT_NE(w.err().find("received this node's shard"), std::string::npos) << w.err();
    }
  }
}

TEST(Pool, MpiRanksGiveOneNodesTokens) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  const std::vector<int> one = Tokens({}, "mpi-one");
  std::vector<std::string> args = {
      "--allow-run-as-root", "--oversubscribe", "-np", "3", Bin(), "run", "-m", Model()};
  args.insert(args.end(), kGreedy.begin(), kGreedy.end());
  args.push_back("--mpi");
  Proc p;
  p.out_path = Tmp() + "/mpi.out";
  p.err_path = Tmp() + "/mpi.err";
  std::string cmd = "mpirun";
  for (const std::string& a : args) cmd += " '" + a + "'";
  const int rc = std::system((cmd + " >" + p.out_path + " 2>" + p.err_path).c_str());
  if (rc != 0 && p.err().find("MPI") != std::string::npos &&
      p.err().find("built without MPI") != std::string::npos) {
    GTEST_SKIP() << "shoal was built without MPI";
  }
  ASSERT_EQ(rc, 0) << p.err();
  EXPECT_EQ(Json(p)["tokens"].get<std::vector<int>>(), one);
  EXPECT_EQ(Json(p)["nodes"].size(), 3u);
}

TEST(Pool, LogitsMatchOneNode) {
  const std::string prompt = Tmp() + "/prompt.txt";
  std::ofstream(prompt) << "The logits of a pooled model";
  auto logits = [&](const std::vector<std::string>& extra, const std::string& tag) {
    const std::string out = Tmp() + "/" + tag + ".f32";
    std::vector<std::string> args = {"logits", "-m", Model(), "-f", prompt, "-o", out, "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    Proc p = RunShoal(args, tag);
    EXPECT_EQ(p.code, 0) << p.err();
    const std::string bytes = ReadAll(out);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
  };
  const std::vector<float> one = logits({}, "logits1");
  const std::vector<float> three = logits({"--local", "2"}, "logits3");
  ASSERT_EQ(one.size(), three.size());
  ASSERT_FALSE(one.empty());
  double sd = 0, d = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    sd += double(one[i]) * one[i];
    d = std::max(d, std::fabs(double(one[i]) - three[i]));
  }
  EXPECT_LT(d / std::sqrt(sd / double(one.size())), 5e-2);
}

// Every node offers less memory than the model needs; the pool still runs it, and no node's
// resident memory reaches the model's size.
TEST(Pool, RunsAModelNoNodeCouldHold) {
  const std::string big = Tmp() + "/pool-big.gguf";
  Proc g = RunShoal({"gen-model", "-o", big, "--n-embd", "1024", "--n-layer", "4", "--n-head", "16",
                     "--n-head-kv", "4", "--n-ff", "2816", "--n-vocab", "8192", "--type", "q8_0"},
                    "genbig");
  ASSERT_EQ(g.code, 0) << g.err();
  const uint64_t model_bytes = fs::file_size(big);
  const std::string cap = std::to_string(model_bytes * 6 / 10 / 1024) + "K";
  // One node with that cap: the plan refuses, with the numbers.
  Proc alone = RunShoal(
      {"plan", "-m", big, "--node", "mem=" + cap, "--reserve-mib", "8", "-c", "256"}, "plan1");
  EXPECT_NE(alone.code, 0);
  EXPECT_NE(alone.err().find("pool only"), std::string::npos) << alone.err();
  // Three nodes with that cap each.
  Proc p = RunShoal({"run",
                     "-m",
                     big,
                     "-p",
                     "memory",
                     "-n",
                     "8",
                     "--temp",
                     "0",
                     "-t",
                     "1",
                     "-c",
                     "256",
                     "--json",
                     "--local",
                     "2",
                     "--local-mem",
                     cap,
                     "--reserve-mib",
                     "8"},
                    "pooled-big");
  ASSERT_EQ(p.code, 0) << p.err();
  json j = Json(p);
  ASSERT_EQ(j["nodes"].size(), 3u);
  for (const json& n : j["nodes"]) {
    const uint64_t rss = n["peak_rss_bytes"].get<uint64_t>();
    std::printf("node %d: weights %.1f MiB, peak resident %.1f MiB (model %.1f MiB)\n",
                n["rank"].get<int>(), n["weight_bytes"].get<double>() / 1048576.0,
                double(rss) / 1048576.0, double(model_bytes) / 1048576.0);
    EXPECT_LT(n["weight_bytes"].get<uint64_t>(), model_bytes / 2);
    EXPECT_LT(rss, model_bytes);
  }
}

// A worker killed mid-generation: rank 0 names it and exits with an error quickly; the other
// local worker does not outlive rank 0.
TEST(BadPeers, KilledWorkerEndsTheRequestCleanly) {
  for (int sig : {SIGKILL, SIGSTOP}) {
    SCOPED_TRACE(sig == SIGKILL ? "killed" : "paused");
    Proc p =
        Start({"run", "-m", Model(), "-p", "a long generation", "-n", "60000", "-c", "60000",
               "--ignore-eos", "--temp", "0", "-t", "1", "--local", "2", "--io-timeout-ms", "2000"},
              sig == SIGKILL ? "killed" : "paused");
    std::vector<pid_t> kids;
    for (int i = 0; i < 500 && kids.size() < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      kids = Children(p.pid);
    }
    ASSERT_EQ(kids.size(), 2u) << "workers not found";
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // generating by now
    kill(kids[1], sig);
    const auto t0 = Clock::now();
    ASSERT_TRUE(p.Wait(20)) << "rank 0 hung";
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_NE(p.code, 0);
    EXPECT_LT(p.code, 128) << "rank 0 crashed";
    EXPECT_NE(p.err().find("rank "), std::string::npos) << p.err();
    EXPECT_LT(s, 10.0);
    std::printf("%s worker: rank 0 exited %.2f s later: %s", sig == SIGKILL ? "killed" : "paused",
                s, p.err().substr(p.err().rfind("shoal: error")).c_str());
    for (pid_t k : kids) {
      waitpid(k, nullptr, WNOHANG);
      EXPECT_FALSE(Alive(k) && Children(p.pid).size() > 0) << "worker " << k << " left behind";
    }
  }
}

TEST(BadPeers, WrongSecretAndGarbageAreRefused) {
  // A worker with one secret, rank 0 with another.
  Proc w = Start({"worker", "--listen", "127.0.0.1:0", "--once", "-t", "1"}, "worker-secret",
                 {"SHOAL_SECRET=the-right-secret-0123456789abcdefghijk"});
  const std::string addr = ListenAddress(w);
  ASSERT_FALSE(addr.empty()) << w.err();
  // A rank 0 with the wrong secret is refused; the worker keeps waiting (garbage and stray
  // connections: src/comm/tcp/tcp_test.cc).
  Proc wrong =
      RunShoal({"run", "-m", Model(), "-p", "x", "--nodes", addr, "--io-timeout-ms", "2000"},
               "wrong-secret", 30, {"SHOAL_SECRET=the-wrong-secret-0123456789abcdefghijk"});
  EXPECT_NE(wrong.code, 0);
  EXPECT_LT(wrong.code, 128);
  EXPECT_NE(wrong.err().find("secret"), std::string::npos) << wrong.err();
  // The right secret still works afterwards.
  Proc ok = RunShoal({"run", "-m", Model(), "-p", "x", "-n", "4", "-t", "1", "--nodes", addr},
                     "right", 60, {"SHOAL_SECRET=the-right-secret-0123456789abcdefghijk"});
  EXPECT_EQ(ok.code, 0) << ok.err();
  EXPECT_TRUE(w.Wait(20));
  EXPECT_EQ(w.code, 0) << w.err();
}

// `shoal secret` makes a strong secret in a 0600 file and will not overwrite one; weak secrets
// are refused with how to make one; every --link-security gives one node's tokens over tcp, and a
// worker and a rank 0 that disagree on it are refused with a clear error.
TEST(LinkSecurity, SecretCommandWeakSecretsAndModes) {
  const std::string file = Tmp() + "/cluster.secret";
  fs::remove(file);
  Proc made = RunShoal({"secret", "-o", file}, "secret-make");
  ASSERT_EQ(made.code, 0) << made.err();
  const std::string secret = ReadAll(file);
  ASSERT_EQ(secret.size(), 65u) << secret;
  EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), 64u);
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  Proc again = RunShoal({"secret", "-o", file}, "secret-again");
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err().find("--force"), std::string::npos) << again.err();
  EXPECT_EQ(ReadAll(file), secret);
  Proc forced = RunShoal({"secret", "-o", file, "--force"}, "secret-force");
  EXPECT_EQ(forced.code, 0) << forced.err();
  EXPECT_NE(ReadAll(file), secret);

  for (const std::string& weak :
       std::vector<std::string>{"SHOAL_SECRET=short-secret", "SHOAL_SECRET=" + std::string(40, 'a'),
                                "SHOAL_SECRET=abababababababababababababababababab"}) {
    Proc w = RunShoal({"worker", "--listen", "127.0.0.1:0", "--once"}, "weak-secret", 20, {weak});
    EXPECT_NE(w.code, 0) << weak;
    EXPECT_NE(w.err().find("shoal secret"), std::string::npos) << w.err();
  }

  const std::vector<int> one = Tokens({}, "link-one");
  ASSERT_EQ(one.size(), 24u);
  for (const std::string mode : {"seal", "auth", "none"}) {
    EXPECT_EQ(Tokens({"--local", "1", "--link-security", mode}, "link-" + mode), one) << mode;
  }

  Proc w = Start({"worker", "--listen", "127.0.0.1:0", "--once", "-t", "1", "--secret-file", file,
                  "--link-security", "auth"},
                 "worker-auth");
  const std::string addr = ListenAddress(w);
  ASSERT_FALSE(addr.empty()) << w.err();
  std::vector<std::string> args = {"run", "-m", Model(), "--secret-file", file, "--nodes", addr};
  args.insert(args.end(), kGreedy.begin(), kGreedy.end());
  Proc mismatch = RunShoal(args, "link-mismatch", 30);  // the default, seal
  EXPECT_NE(mismatch.code, 0);
  EXPECT_NE(mismatch.err().find("link security mismatch"), std::string::npos) << mismatch.err();
  args.insert(args.end(), {"--link-security", "auth"});
  Proc ok = RunShoal(args, "link-auth-nodes", 60);
  ASSERT_EQ(ok.code, 0) << ok.err() << w.err();
  EXPECT_EQ(Json(ok)["tokens"].get<std::vector<int>>(), one);
  EXPECT_TRUE(w.Wait(20));
  EXPECT_EQ(w.code, 0) << w.err();
}

TEST(Plan, TextAndJson) {
  Proc t = RunShoal({"plan", "-m", Model(), "--node", "mem=1G,threads=2,name=a", "--node",
                     "mem=1G,threads=1,name=b"},
                    "plan-text");
  EXPECT_EQ(t.code, 0) << t.err();
  EXPECT_NE(t.out().find("fits"), std::string::npos);
  Proc j =
      RunShoal({"plan", "-m", Model(), "--node", "mem=1G,threads=2", "--node", "mem=1G", "--json"},
               "plan-json");
  json p = Json(j);
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(p["ranks"].size(), 2u);
  EXPECT_TRUE(p["fits"].get<bool>());
  Proc bad = RunShoal({"plan", "-m", Model(), "--node", "mem=lots"}, "plan-bad");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err().find("shoal: error"), std::string::npos);
}

}  // namespace

namespace {

// A worker without the model file receives its shard from rank 0 once, verified, and reuses the
// cached copy in the next job.
TEST(Pool, NodeWithoutTheFileGetsItsShardOnce) {
  const std::string cache = Tmp() + "/shard-cache";
  fs::remove_all(cache);
  std::vector<int> one = Tokens({}, "ship-one");
  for (int job = 0; job < 2; ++job) {
    Proc w = Start({"worker", "--listen", "127.0.0.1:0", "--once", "-t", "1", "-m",
                    Tmp() + "/no-such-model.gguf", "--cache", cache},
                   "ship-worker" + std::to_string(job),
                   {"SHOAL_SECRET=ship-secret-0123456789abcdefghijklmnop"});
    const std::string addr = ListenAddress(w);
    ASSERT_FALSE(addr.empty()) << w.err();
    std::vector<std::string> args = {"run", "-m", Model()};
    args.insert(args.end(), kGreedy.begin(), kGreedy.end());
    args.insert(args.end(), {"--nodes", addr});
    Proc r = RunShoal(args, "ship-run" + std::to_string(job), 60,
                      {"SHOAL_SECRET=ship-secret-0123456789abcdefghijklmnop"});
    ASSERT_EQ(r.code, 0) << r.err() << w.err();
    EXPECT_EQ(Json(r)["tokens"].get<std::vector<int>>(), one);
    ASSERT_TRUE(w.Wait(20));
    const bool received = w.err().find("received this node's shard") != std::string::npos;
    const bool reused = w.err().find("using the cached shard") != std::string::npos;
    EXPECT_EQ(received, job == 0) << w.err();
    EXPECT_EQ(reused, job == 1) << w.err();
  }
}

// `shoal push` places a node's shard ahead of time: the worker without the model receives it into
// its cache during the push, and the run that follows (on a worker that gives its memory back
// after each job) uses the cached shard with one node's tokens.
TEST(Pool, PushPlacesTheShardAheadOfTheRun) {
  const std::string cache = Tmp() + "/push-cache";
  fs::remove_all(cache);
  std::vector<int> one = Tokens({}, "push-one");
  Proc w = Start({"worker", "--listen", "127.0.0.1:0", "-t", "1", "-m",
                  Tmp() + "/no-such-model.gguf", "--cache", cache, "--release-weights"},
                 "push-worker", {"SHOAL_SECRET=push-secret-0123456789abcdefghijklmnop"});
  const std::string addr = ListenAddress(w);
  ASSERT_FALSE(addr.empty()) << w.err();
  Proc p =
      RunShoal({"push", "-m", Model(), "-t", "1", "--parallel", "1", "--nodes", addr, "--json"},
               "push", 60, {"SHOAL_SECRET=push-secret-0123456789abcdefghijklmnop"});
  ASSERT_EQ(p.code, 0) << p.err() << w.err();
  const json j = Json(p);
  ASSERT_EQ(j["nodes"].size(), 2u);
  EXPECT_GT(j["nodes"][1]["weight_bytes"].get<uint64_t>(), 0u);
  EXPECT_NE(w.err().find("received this node's shard"), std::string::npos) << w.err();
  std::vector<std::string> args = {"run", "-m", Model()};
  args.insert(args.end(), kGreedy.begin(), kGreedy.end());
  args.insert(args.end(), {"--nodes", addr});
  Proc r = RunShoal(args, "push-run", 60, {"SHOAL_SECRET=push-secret-0123456789abcdefghijklmnop"});
  ASSERT_EQ(r.code, 0) << r.err() << w.err();
  EXPECT_EQ(Json(r)["tokens"].get<std::vector<int>>(), one);
  EXPECT_NE(w.err().find("using the cached shard"), std::string::npos) << w.err();
  kill(w.pid, SIGTERM);
  w.Wait(10);
}

}  // namespace
