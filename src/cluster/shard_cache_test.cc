// The shard cache's manifest parser against hostile text, verification of entries (a flipped
// byte, a truncated file, a link), least-recently-used eviction under a size limit, the job
// parser's bounds, and the transfer receiver against a rank 0 that sends ranges outside the model.
#include "cluster/shard_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "cluster/job_parse.h"
#include "cluster/transfer.h"
#include "comm/loopback/loopback.h"

namespace shoal::cluster {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string t = (fs::temp_directory_path() / "shoal-cache-test-XXXXXX").string();
  return ::mkdtemp(t.data()) ? t : "";
}

gguf::Digest Xxh(const std::string& bytes) {  // the library directly, as the reference
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.high64, h.low64};
}

// An entry of one file holding `data`, its manifest listing two ranges of it.
Manifest WriteEntry(const std::string& dir, const std::string& data) {
  fs::create_directories(dir);
  std::ofstream(dir + "/model.gguf", std::ios::binary) << data;
  Manifest m;
  m.model_id = Xxh("model");
  m.part_bytes = {data.size()};
  m.ranges = {{0, 0, 0, 8}, {0, 0, 16, data.size() - 16}};
  m.digests = {Xxh(data.substr(0, 8)), Xxh(data.substr(16))};
  std::ofstream(dir + "/manifest.json") << ManifestJson(m);
  return m;
}

TEST(Manifest, RoundTripAndHostileTextRefused) {
  Manifest m;
  m.model_id = Xxh("a");
  m.part_bytes = {100, 200};
  m.ranges = {{0, 0, 0, 10}, {1, 0, 5, 20}};
  m.digests = {Xxh("x"), Xxh("y")};
  auto back = ParseManifest(ManifestJson(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->model_id, m.model_id);
  EXPECT_EQ(back->part_bytes, m.part_bytes);
  ASSERT_EQ(back->ranges.size(), 2u);
  EXPECT_EQ(back->ranges[1].offset, 5u);
  EXPECT_EQ(back->digests[1], m.digests[1]);
  const std::string id = m.model_id.Hex(), d = Xxh("x").Hex();
  auto text = [&](const std::string& mid, const std::string& parts, const std::string& ranges) {
    return R"({"format":"shoal-shard-cache","version":1,"model_id":")" + mid + R"(","parts":)" +
           parts + R"(,"ranges":)" + ranges + "}";
  };
  const std::string p1 = R"([{"file":"model.gguf","bytes":100}])";
  const std::string r1 = R"([[0,0,10,")" + d + R"("]])";
  ASSERT_TRUE(ParseManifest(text(id, p1, r1)).ok());
  for (const std::string& bad : {
           std::string("not json"),
           std::string("[]"),
           text("../../../../../../../../etc/passwd", p1, r1),            // not a digest
           text(id, R"([{"file":"../../etc/passwd","bytes":100}])", r1),  // outside the entry
           text(id, R"([{"file":"/etc/passwd","bytes":100}])", r1),
           text(id, R"([{"file":"model.gguf","bytes":0}])", r1),
           text(id, R"([{"file":"model.gguf","bytes":1e300}])", r1),
           text(id, "[]", r1),
           text(id, p1, "[]"),
           text(id, p1, R"([[0,95,10,")" + d + R"("]])"),                    // past the file's end
           text(id, p1, R"([[0,18446744073709551615,10,")" + d + R"("]])"),  // overflow
           text(id, p1, R"([[1,0,10,")" + d + R"("]])"),                     // no part 1
           text(id, p1, R"([[0,0,0,")" + d + R"("]])"),                      // empty
           text(id, p1, R"([[0,20,10,")" + d + R"("],[0,0,10,")" + d + R"("]])"),  // order
           text(id, p1, R"([[0,0,10,")" + d + R"("],[0,5,10,")" + d + R"("]])"),   // overlap
           text(id, p1, R"([[0,0,10,"zz"]])"),
           text(id, p1, R"([[0,0,10]])"),
           text(id, p1, R"([["0",0,10,")" + d + R"("]])"),
       }) {
    SCOPED_TRACE(bad);
    auto r = ParseManifest(bad);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  }
}

TEST(ShardCache, VerifyDetectsFlippedTruncatedAndLinkedFiles) {
  const std::string root = TempDir(), dir = root + "/e";
  const std::string data = "GGUF....header..0123456789abcdefghijklmnopqrstuvwxyz";
  WriteEntry(dir, data);
  ASSERT_TRUE(VerifyEntry(dir).ok()) << VerifyEntry(dir).status().ToString();
  {  // a flipped byte inside a range
    std::string bad = data;
    bad[30] ^= 1;
    std::ofstream(dir + "/model.gguf", std::ios::binary) << bad;
    auto r = VerifyEntry(dir);
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(r.status().message().find("digest"), std::string::npos) << r.status().ToString();
  }
  {  // a byte outside every range is not the cache's business
    std::string other = data;
    other[10] ^= 1;
    std::ofstream(dir + "/model.gguf", std::ios::binary) << other;
    EXPECT_TRUE(VerifyEntry(dir).ok());
  }
  {  // truncated
    std::ofstream(dir + "/model.gguf", std::ios::binary) << data.substr(0, 40);
    auto r = VerifyEntry(dir);
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  }
  {  // a link instead of the file
    const std::string real = root + "/real.gguf";
    std::ofstream(real, std::ios::binary) << data;
    fs::remove(dir + "/model.gguf");
    fs::create_symlink(real, dir + "/model.gguf");
    EXPECT_EQ(VerifyEntry(dir).status().code(), StatusCode::kCorrupt);
  }
  fs::remove_all(root);
}

TEST(ShardCache, EvictsLeastRecentlyUsedWholeEntries) {
  const std::string root = TempDir();
  const std::string blob(64 * 1024, 'x');
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    const std::string name = gguf::Digest{0, uint64_t(i)}.Hex() + "-0123456789abcdef";
    ASSERT_TRUE(ValidEntryName(name));
    WriteEntry(root + "/" + name, blob);
    const struct timespec t[2] = {{1000 + i, 0}, {1000 + i, 0}};  // entry 0 least recently used
    ASSERT_EQ(::utimensat(AT_FDCWD, (root + "/" + name + "/manifest.json").c_str(), t, 0), 0);
    names.push_back(name);
  }
  TouchEntry(root + "/" + names[1]);  // used now: the most recent
  const uint64_t each = CacheBytes(root) / 4;
  ASSERT_GE(each, blob.size());
  // Room for one more entry under a limit of 3.5 entries: two go, 0 then 2 (1 was touched),
  // never 0 when it is the one kept.
  ASSERT_TRUE(MakeRoom(root, each, each * 7 / 2, names[0]).ok());
  EXPECT_TRUE(fs::exists(root + "/" + names[0]));
  EXPECT_TRUE(fs::exists(root + "/" + names[1]));
  EXPECT_FALSE(fs::exists(root + "/" + names[2]));
  EXPECT_FALSE(fs::exists(root + "/" + names[3]));
  EXPECT_LE(CacheBytes(root) + each, each * 7 / 2);
  // More than the limit can ever hold: refused, the kept entry stays.
  auto s = MakeRoom(root, each * 10, each * 7 / 2, names[0]);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(fs::exists(root + "/" + names[0]));
  EXPECT_FALSE(fs::exists(root + "/" + names[1]));
  fs::remove_all(root);
}

TEST(ShardCache, EntryNamesAndSizes) {
  EXPECT_FALSE(ValidEntryName("../x"));
  EXPECT_FALSE(ValidEntryName(std::string(49, 'a')));
  EXPECT_FALSE(ValidEntryName(gguf::Digest{}.Hex() + "-0123456789abcdeF"));
  EXPECT_TRUE(ValidEntryName(EntryName(Xxh("m"), {{0, 0, 0, 1}})));
  EXPECT_NE(EntryName(Xxh("m"), {{0, 0, 0, 1}}), EntryName(Xxh("m"), {{0, 0, 0, 2}}));
  EXPECT_EQ(*ParseByteSize("64G"), uint64_t{64} << 30);
  EXPECT_EQ(*ParseByteSize("1.5K"), 1536u);
  EXPECT_EQ(*ParseByteSize("300MiB"), uint64_t{300} << 20);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("-1G").ok());
  EXPECT_FALSE(ParseByteSize("1e30T").ok());
}

std::string PlanJson(int ranks, int stages, int n_ctx, int stage_of_last = 0) {
  nlohmann::json p = {{"stages", stages}, {"n_ctx", n_ctx}, {"ranks", nlohmann::json::array()}};
  for (int r = 0; r < ranks; ++r) {
    p["ranks"].push_back({{"stage", r == ranks - 1 ? stage_of_last : 0}});
  }
  return p.dump();
}

TEST(JobParse, FieldsOutOfRangeOrInconsistentAreRefused) {
  JobMessage m;
  m.ok = true;
  m.model_path = "/m/model.gguf";
  m.model_id = Xxh("m");
  m.part_bytes = {1000, 2000};
  m.n_ctx = 64;
  m.plan = nlohmann::json::parse(PlanJson(2, 1, 64));
  auto back = ParseJob(JobText(m), 2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->model_id, m.model_id);
  EXPECT_EQ(back->part_bytes, m.part_bytes);
  EXPECT_FALSE(ParseJob(JobText(m), 3).ok());  // the plan's ranks are not the group's
  auto job = [&](const std::string& id, const std::string& parts, uint64_t total, int n_ctx,
                 const std::string& plan, const std::string& path = "m.gguf") {
    return R"({"ok":true,"model_path":")" + path + R"(","model_id":")" + id +
           R"(","model_parts":)" + parts + R"(,"model_bytes":)" + std::to_string(total) +
           R"(,"n_ctx":)" + std::to_string(n_ctx) + R"(,"plan":)" + plan + "}";
  };
  const std::string id = Xxh("m").Hex();
  ASSERT_TRUE(ParseJob(job(id, "[10,20]", 30, 64, PlanJson(2, 1, 64)), 2).ok());
  for (const std::string& bad : {
           job("0123", "[10,20]", 30, 64, PlanJson(2, 1, 64)),
           job("../../../../../../../../etc/passwd", "[10,20]", 30, 64, PlanJson(2, 1, 64)),
           job(id, "[10,20]", 31, 64, PlanJson(2, 1, 64)),  // sizes disagree
           job(id, "[]", 0, 64, PlanJson(2, 1, 64)),
           job(id, "[0]", 0, 64, PlanJson(2, 1, 64)),
           job(id, "[10,-20]", 30, 64, PlanJson(2, 1, 64)),
           job(id, "[10,20]", 30, 0, PlanJson(2, 1, 0)),
           job(id, "[10,20]", 30, 1 << 30, PlanJson(2, 1, 1 << 30)),
           job(id, "[10,20]", 30, 64, PlanJson(2, 1, 32)),     // contexts disagree
           job(id, "[10,20]", 30, 64, PlanJson(2, 0, 64)),     // no stage
           job(id, "[10,20]", 30, 64, PlanJson(2, 3, 64)),     // more stages than ranks
           job(id, "[10,20]", 30, 64, PlanJson(2, 1, 64, 5)),  // a rank in no stage
           job(id, "[10,20]", 30, 64, "[]"),
           job(id, "[10,2e300]", 30, 64, PlanJson(2, 1, 64)),  // floats are never converted
           [&] {
             std::string t = job(id, "[10,20]", 30, 64, PlanJson(2, 1, 64));
             return t.replace(t.find("\"n_ctx\":64"), 10, "\"n_ctx\":1e300");
           }(),
           job(id, "[10,20]", 30, 64, PlanJson(2, 1, 64), ""),
           job(id, "[10,20]", 30, 64, PlanJson(2, 1, 64), std::string(5000, 'a')),
       }) {
    SCOPED_TRACE(bad.substr(0, 200));
    auto r = ParseJob(bad, 2);
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  }
}

// The pool id and epoch go as 1 to 16 lowercase hex digits: they come back as sent, and any
// other text is refused.
TEST(JobParse, PoolAndEpochAreHexDigits) {
  JobMessage m;
  m.ok = true;
  m.model_path = "/m/model.gguf";
  m.model_id = Xxh("m");
  m.part_bytes = {1000};
  m.n_ctx = 64;
  m.pool = 0xfedcba9876543210ull;
  m.epoch = 7;
  m.plan = nlohmann::json::parse(PlanJson(2, 1, 64));
  auto back = ParseJob(JobText(m), 2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->pool, m.pool);
  EXPECT_EQ(back->epoch, 7u);
  for (const char* field : {"pool", "epoch"}) {
    for (const char* bad : {"", "12345678901234567", "ABC", "-1", "0x12"}) {
      nlohmann::json j = nlohmann::json::parse(JobText(m));
      j[field] = bad;
      EXPECT_EQ(ParseJob(j.dump(), 2).status().code(), StatusCode::kCorrupt) << field << " " << bad;
    }
  }
}

// The scheduler's KV cache size, the job's I/O timeout and rank 0's heartbeat interval are bounded
// before anything is loaded.
TEST(JobParse, BadKvBlocksAndTimeoutsAreRefused) {
  JobMessage m;
  m.ok = true;
  m.model_path = "/m/model.gguf";
  m.model_id = Xxh("m");
  m.part_bytes = {1000};
  m.n_ctx = 64;
  m.kv_blocks = 40;
  m.io_timeout_ms = 30000;
  m.heartbeat_ms = 250;
  m.plan = nlohmann::json::parse(PlanJson(2, 1, 64));
  auto back = ParseJob(JobText(m), 2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kv_blocks, 40);
  EXPECT_EQ(back->io_timeout_ms, 30000);
  EXPECT_EQ(back->heartbeat_ms, 250);
  for (int heartbeat : {-1, 600001}) {
    JobMessage bad = m;
    bad.heartbeat_ms = heartbeat;
    EXPECT_EQ(ParseJob(JobText(bad), 2).status().code(), StatusCode::kCorrupt) << heartbeat;
  }
  for (const auto& [kv, timeout, what] :
       {std::tuple{-5, 30000, "KV blocks"}, std::tuple{100000000, 30000, "KV blocks"},
        std::tuple{4, -7, "I/O timeout"}, std::tuple{4, 100000000, "I/O timeout"}}) {
    JobMessage bad = m;
    bad.kv_blocks = kv;
    bad.io_timeout_ms = timeout;
    auto r = ParseJob(JobText(bad), 2);
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().ToString();
  }
}

// Rank 0 (the test, by hand) answers a request for a shard with ranges outside the model's files:
// the receiver refuses them before writing anything.
TEST(Transfer, RangesOutsideTheModelAreRefused) {
  for (const ByteRange bad :
       {ByteRange{0, 0, 990, 20}, ByteRange{1, 0, 0, 10}, ByteRange{0, 0, ~uint64_t{0} - 4, 10}}) {
    const std::string cache = TempDir();
    auto groups = comm::MakeLoopbackGroups(2, /*io_timeout_ms=*/2000);
    Status got;
    StatusOr<std::string> path = std::string("unset");
    std::thread t([&] {
      ReceiveOptions o;
      o.room_bytes = 1 << 20;
      o.cache_dir = cache;
      o.model_id = Xxh("m");
      o.part_bytes = {1000};
      got = ReceiveShard(*groups[1], o, &path);
    });
    comm::Group& g = *groups[0];
    uint64_t mine = 0;
    std::vector<uint64_t> rooms(2);
    const std::vector<size_t> sizes = {8, 8};
    ASSERT_TRUE(g.GatherV(&mine, rooms.data(), sizes, 0).ok());
    EXPECT_EQ(rooms[1], uint64_t{1} << 20);
    struct {
      int32_t target;
      uint32_t kind;
      uint64_t bytes;
    } h{1, 1, sizeof(ByteRange)};
    ASSERT_TRUE(g.Broadcast(&h, sizeof(h), 0).ok());
    ASSERT_TRUE(g.Send(1, &bad, sizeof(bad)).ok());
    t.join();
    EXPECT_EQ(got.code(), StatusCode::kCorrupt) << got.ToString();
    EXPECT_TRUE(fs::is_empty(cache));
    fs::remove_all(cache);
  }
}

// Rank 0 (by hand) breaks the transfer's order: a header aimed at a rank that asked for nothing,
// data before the ranges, an unknown kind, digests before all data. Each ends the transfer on the
// receiver as corrupt; nothing is left in the cache.
TEST(Transfer, MessagesOutOfOrderAreRefused) {
  struct Case {
    const char* what;
    bool need;
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> rounds;  // kind, payload
  };
  const ByteRange r{0, 0, 0, 100};
  std::vector<uint8_t> range(sizeof(r));
  std::memcpy(range.data(), &r, sizeof(r));
  const std::vector<Case> cases = {
      {"unasked", false, {{1, range}}},
      {"data first", true, {{2, std::vector<uint8_t>(10)}}},
      {"unknown kind", true, {{9, {}}}},
      {"digests early",
       true,
       {{1, range}, {2, std::vector<uint8_t>(50)}, {3, std::vector<uint8_t>(16)}}},
      {"ranges twice", true, {{1, range}, {1, range}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string cache = TempDir();
    auto groups = comm::MakeLoopbackGroups(2, /*io_timeout_ms=*/1000);
    Status got;
    std::thread t([&] {
      ReceiveOptions o;
      o.room_bytes = c.need ? 1 << 20 : 0;
      o.cache_dir = cache;
      o.model_id = Xxh("m");
      o.part_bytes = {1000};
      StatusOr<std::string> path = std::string("unset");
      got = ReceiveShard(*groups[1], o, &path);
    });
    comm::Group& g = *groups[0];
    uint64_t mine = 0;
    std::vector<uint64_t> rooms(2);
    const std::vector<size_t> sizes = {8, 8};
    ASSERT_TRUE(g.GatherV(&mine, rooms.data(), sizes, 0).ok());
    for (const auto& [kind, payload] : c.rounds) {
      struct {
        int32_t target;
        uint32_t kind;
        uint64_t bytes;
      } h{1, kind, payload.size()};
      if (!g.Broadcast(&h, sizeof(h), 0).ok()) break;
      if (!payload.empty() && !g.Send(1, payload.data(), payload.size()).ok()) break;
    }
    t.join();
    EXPECT_EQ(got.code(), StatusCode::kCorrupt) << got.ToString();
    EXPECT_TRUE(fs::is_empty(cache));  // no temporary folder left behind
    fs::remove_all(cache);
  }
}

}  // namespace
}  // namespace shoal::cluster
