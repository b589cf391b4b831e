// The job protocol against a rank 0 that sends garbage: the worker side returns a clear error (or
// ends the job) and never crashes or waits forever. Ranks are threads joined by the loopback
// backend; "rank 0" here is the test, speaking the protocol by hand.
#include "cluster/job.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "comm/loopback/loopback.h"
#include "model/generate.h"

namespace shoal::cluster {
namespace {

// Rank 0's half of the setup up to the job message: receive the offers, then send `n` as the
// job length and `text` (when n is sane) as the job.
void SendJobBytes(comm::Group& g, uint64_t n, const std::string& text) {
  std::vector<uint8_t> offers(24 * size_t(g.size()));
  std::vector<size_t> sizes(size_t(g.size()), 24);
  uint8_t mine[24] = {};
  ASSERT_TRUE(g.GatherV(mine, offers.data(), sizes, 0).ok());
  ASSERT_TRUE(g.Broadcast(&n, sizeof(n), 0).ok());
  if (n == text.size()) {
    std::string copy = text;
    ASSERT_TRUE(g.Broadcast(copy.data(), copy.size(), 0).ok());
  }
}

Status ServeAgainst(uint64_t n, const std::string& text) {
  auto groups = comm::MakeLoopbackGroups(2, /*io_timeout_ms=*/2000);
  Status worker;
  std::thread t([&] {
    ThreadPool pool(1);
    worker = ServeJob(*groups[1], pool, NodeOffer{}, "", "/nonexistent-cache");
  });
  SendJobBytes(*groups[0], n, text);
  t.join();
  return worker;
}

TEST(Job, OversizedJobLengthIsRefused) {
  const Status s = ServeAgainst(uint64_t{1} << 40, "");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("limit"), std::string::npos) << s.ToString();
}

TEST(Job, MalformedJobsAreRefused) {
  for (const std::string& text :
       {std::string("not json"), std::string("[1,2]"), std::string(R"({"ok": true})"),
        std::string(R"({"ok": true, "model_path": 5, "model_id": "x", "n_ctx": 8, "plan": {}})"),
        std::string(R"({"ok": true, "model_path": "m", "model_id": "x", "n_ctx": 8,
                        "kv_blocks": "many", "plan": {}})"),
        std::string(R"({"ok": true, "model_path": "m", "model_id": "x", "n_ctx": -1,
                        "plan": {"arch": "llama", "n_ctx": 8, "stages": 1, "fits": true,
                                 "nodes": [], "ranks": []}})")}) {
    SCOPED_TRACE(text);
    const Status s = ServeAgainst(text.size(), text);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(s.code() == StatusCode::kCorrupt || s.code() == StatusCode::kInvalidArgument)
        << s.ToString();
  }
}

// The scheduler's KV cache size and the job's I/O timeout are bounded before anything is loaded.
TEST(Job, BadKvBlocksAndTimeoutsAreRefused) {
  for (const std::string& text :
       {std::string(R"({"ok": true, "model_path": "m", "model_id": "x", "n_ctx": 8,
                        "kv_blocks": -5, "plan": {}})"),
        std::string(R"({"ok": true, "model_path": "m", "model_id": "x", "n_ctx": 8,
                        "kv_blocks": 100000000, "plan": {}})"),
        std::string(R"({"ok": true, "model_path": "m", "model_id": "x", "n_ctx": 8,
                        "kv_blocks": 4, "io_timeout_ms": -7, "plan": {}})")}) {
    SCOPED_TRACE(text);
    const Status s = ServeAgainst(text.size(), text);
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
    EXPECT_NE(s.message().find("KV cache size or I/O timeout"), std::string::npos) << s.ToString();
  }
}

TEST(Job, AbortedJobEndsCleanly) {
  const std::string text = R"({"ok": false, "error": "the plan does not fit"})";
  EXPECT_TRUE(ServeAgainst(text.size(), text).ok());
}

// A rank 0 that goes silent mid-setup: the worker reports it within its I/O timeout.
TEST(Job, SilentRankZeroIsReported) {
  auto groups = comm::MakeLoopbackGroups(2, /*io_timeout_ms=*/500);
  Status worker;
  std::thread t([&] {
    ThreadPool pool(1);
    worker = ServeJob(*groups[1], pool, NodeOffer{}, "", "/nonexistent-cache");
  });
  std::vector<uint8_t> offers(48);
  std::vector<size_t> sizes(2, 24);
  uint8_t mine[24] = {};
  ASSERT_TRUE(groups[0]->GatherV(mine, offers.data(), sizes, 0).ok());
  t.join();  // rank 0 never sends the job
  EXPECT_EQ(worker.code(), StatusCode::kUnavailable) << worker.ToString();
}

TEST(ModelId, SameTableSameId) {
  model::GenSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 64;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 128;
  gguf::Writer a, b;
  ASSERT_TRUE(model::GenerateModelWriter(spec, &a).ok());
  spec.seed = 2;  // other weights, same table
  ASSERT_TRUE(model::GenerateModelWriter(spec, &b).ok());
  const std::vector<uint8_t> ia = a.Serialize(), ib = b.Serialize();
  auto fa = gguf::File::FromMemory(ia.data(), ia.size());
  auto fb = gguf::File::FromMemory(ib.data(), ib.size());
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_EQ(ModelId(**fa), ModelId(**fb));
  spec.n_ff = 192;  // another shape
  gguf::Writer c;
  ASSERT_TRUE(model::GenerateModelWriter(spec, &c).ok());
  const std::vector<uint8_t> ic = c.Serialize();
  auto fc = gguf::File::FromMemory(ic.data(), ic.size());
  ASSERT_TRUE(fc.ok());
  EXPECT_NE(ModelId(**fa), ModelId(**fc));
}

}  // namespace
}  // namespace shoal::cluster
