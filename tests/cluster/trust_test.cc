// Trust in what a pool computes with (docs/model-identity.md), end to end with the built `shoal`:
// a worker holding another model with the same tensor table (another seed) never computes with
// it: it receives its shard from rank 0 (the same tokens as one node, over tcp and shared memory)
// or, without room in its shard cache, the job ends with an error naming both identities. A split
// set ships and runs like its single file; a cached shard with a flipped byte or truncated is
// detected and fetched again.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster/pool_process.h"

namespace {

using namespace shoal::pool_test;  // NOLINT: the helpers of every pool test

const char* kSecret = "SHOAL_SECRET=trust-secret-0123456789abcdefghijklmnop";

// Model() at another seed: the same shapes, types and tensor table, other weights.
const std::string& OtherSeed() {
  static const std::string path = [] {
    const std::string p = Tmp() + "/pool-q8_0-seed4.gguf";
    Proc g = RunShoal({"gen-model", "-o", p, "--n-embd", "256", "--n-layer", "3", "--n-head", "8",
                       "--n-head-kv", "2", "--n-ff", "768", "--type", "q4_k_m", "--seed", "4"},
                      "gen-seed4");
    EXPECT_EQ(g.code, 0) << g.err();
    return p;
  }();
  return path;
}

std::string Identity(const std::string& path, const std::string& tag) {
  Proc p = RunShoal({"id", path, "--json"}, tag);
  EXPECT_EQ(p.code, 0) << p.err();
  json j = Json(p);
  return j.is_object() ? j["identity"].get<std::string>() : "";
}

// A `shoal worker --once` on 127.0.0.1 with these extra flags; its address in *addr.
Proc Worker(const std::vector<std::string>& extra, const std::string& tag, std::string* addr) {
  std::vector<std::string> args = {"worker", "--listen", "127.0.0.1:0", "--once", "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  Proc w = Start(args, tag, {kSecret});
  *addr = ListenAddress(w);
  EXPECT_FALSE(addr->empty()) << w.err();
  return w;
}

Proc RunOn(const std::string& model, const std::string& addr, const std::string& tag) {
  std::vector<std::string> args = {"run", "-m", model};
  args.insert(args.end(), kGreedy.begin(), kGreedy.end());
  args.insert(args.end(), {"--nodes", addr});
  return RunShoal(args, tag, 60, {kSecret});
}

TEST(Trust, IdentityFollowsContentNotLayout) {
  const std::string a = Identity(Model(), "id-a"), b = Identity(OtherSeed(), "id-b");
  ASSERT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  const std::string prefix = Tmp() + "/pool-split";
  Proc g = RunShoal({"gen-model", "-o", prefix + ".gguf", "--n-embd", "256", "--n-layer", "3",
                     "--n-head", "8", "--n-head-kv", "2", "--n-ff", "768", "--type", "q4_k_m",
                     "--seed", "3", "--split-max-size", "300K"},
                    "gen-split");
  ASSERT_EQ(g.code, 0) << g.err();
  EXPECT_EQ(Identity(prefix + "-00002-of-00006.gguf", "id-split"), a);
}

TEST(Trust, MismatchedCopyIsHealedByShipping) {
  const std::string want = Identity(Model(), "mm-id-a"), other = Identity(OtherSeed(), "mm-id-b");
  const std::vector<int> one = Tokens({}, "mm-one");
  ASSERT_EQ(one.size(), 24u);
  // Without the identity check this pool printed other tokens with exit 0.
  std::string addr;
  fs::remove_all(Tmp() + "/mm-cache");
  Proc w = Worker({"-m", OtherSeed(), "--cache", Tmp() + "/mm-cache"}, "mm-worker", &addr);
  Proc r = RunOn(Model(), addr, "mm-run");
  ASSERT_EQ(r.code, 0) << r.err() << w.err();
  EXPECT_EQ(Json(r)["tokens"].get<std::vector<int>>(), one);
  ASSERT_TRUE(w.Wait(20));
  EXPECT_NE(w.err().find(want.substr(0, 12)), std::string::npos) << w.err();
  EXPECT_NE(w.err().find(other.substr(0, 12)), std::string::npos) << w.err();
  EXPECT_NE(w.err().find("received this node's shard"), std::string::npos) << w.err();
  // Local workers over tcp and shared memory, each opening the other seed's file.
  for (const std::string t : {"tcp", "shm"}) {
    EXPECT_EQ(
        Tokens({"--local", "2", "--transport", t, "--local-model", OtherSeed()}, "mm-local-" + t),
        one)
        << t;
  }
}

TEST(Trust, MismatchedCopyWithoutRoomIsRefused) {
  const std::string want = Identity(Model(), "nr-id-a"), other = Identity(OtherSeed(), "nr-id-b");
  std::string addr;
  fs::remove_all(Tmp() + "/nr-cache");
  Proc w = Worker({"-m", OtherSeed(), "--cache", Tmp() + "/nr-cache", "--cache-max", "1K"},
                  "nr-worker", &addr);
  Proc r = RunOn(Model(), addr, "nr-run");
  EXPECT_EQ(r.code, 1) << r.out();
  EXPECT_NE(r.err().find(want.substr(0, 12)), std::string::npos) << r.err();
  EXPECT_NE(r.err().find(other.substr(0, 12)), std::string::npos) << r.err();
  EXPECT_NE(r.err().find("--cache-max"), std::string::npos) << r.err();
  EXPECT_TRUE(r.out().empty()) << r.out();
  ASSERT_TRUE(w.Wait(20));
}

// The cache entry of the one shard in `cache`: {folder, manifest}.
std::pair<std::string, json> OnlyEntry(const std::string& cache) {
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(cache)) dirs.push_back(e.path().string());
  EXPECT_EQ(dirs.size(), 1u);
  if (dirs.size() != 1) return {};
  return {dirs[0], json::parse(ReadAll(dirs[0] + "/manifest.json"), nullptr, false)};
}

TEST(Trust, SplitSetShipsAndCorruptCacheIsFetchedAgain) {
  const std::vector<int> one = Tokens({}, "sc-one");
  const std::string prefix = Tmp() + "/pool-split-sc";
  Proc g = RunShoal({"gen-model", "-o", prefix + ".gguf", "--n-embd", "256", "--n-layer", "3",
                     "--n-head", "8", "--n-head-kv", "2", "--n-ff", "768", "--type", "q4_k_m",
                     "--seed", "3", "--split-max-size", "300K"},
                    "gen-split-sc");
  ASSERT_EQ(g.code, 0) << g.err();
  const std::string split = prefix + "-00001-of-00006.gguf";
  EXPECT_EQ(Tokens({}, "sc-split-one", split), one);  // a split set loads on one node
  const std::string cache = Tmp() + "/sc-cache";
  fs::remove_all(cache);
  // Job 0 ships from the split set; job 1 finds one byte flipped, job 2 a file truncated; each
  // time the worker fetches the shard again and the tokens are right.
  for (int job = 0; job < 3; ++job) {
    SCOPED_TRACE(job);
    std::string addr;
    Proc w = Worker({"-m", Tmp() + "/no-such-model.gguf", "--cache", cache},
                    "sc-worker" + std::to_string(job), &addr);
    Proc r = RunOn(split, addr, "sc-run" + std::to_string(job));
    ASSERT_EQ(r.code, 0) << r.err() << w.err();
    EXPECT_EQ(Json(r)["tokens"].get<std::vector<int>>(), one);
    ASSERT_TRUE(w.Wait(20));
    EXPECT_NE(w.err().find("received this node's shard"), std::string::npos) << w.err();
    EXPECT_EQ(w.err().find("removed the cached shard") != std::string::npos, job > 0) << w.err();
    auto [dir, m] = OnlyEntry(cache);
    ASSERT_TRUE(m.is_object()) << dir;
    EXPECT_EQ(m["parts"].size(), 6u);
    const json& range = m["ranges"][m["ranges"].size() / 2];
    const std::string file =
        dir + "/" + m["parts"][range[0].get<size_t>()]["file"].get<std::string>();
    const uint64_t at = range[1].get<uint64_t>() + range[2].get<uint64_t>() / 2;
    if (job == 0) {  // flip one bit of a held byte
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(std::streamoff(at));
      char c = 0;
      f.get(c);
      f.seekp(std::streamoff(at));
      f.put(char(c ^ 1));
    } else if (job == 1) {
      fs::resize_file(file, at);
    }
  }
}

}  // namespace
