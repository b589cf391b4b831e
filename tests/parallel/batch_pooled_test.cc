// The scheduler over a pool (2 and 3 loopback ranks, one or two pipeline stages): the batched
// steps travel as Executor kStep commands, every rank keeps its slice of every sequence's KV, and
// the requests get the greedy tokens of the single-node scheduler. Pooled, a request's tokens
// under load (sampled too) equal its tokens alone in the same pool.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "comm/loopback/loopback.h"
#include "load_shard.h"
#include "model/generate.h"
#include "model/model.h"
#include "parallel/plan.h"
#include "runtime/executor.h"
#include "runtime/pooled.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"

namespace shoal {
namespace {

constexpr int32_t kCtx = 64;

struct Case {
  const char* arch;
  DType type;
};

std::string Name(const testing::TestParamInfo<Case>& i) {
  return std::string(i.param.arch) + "_" + std::string(Info(i.param.type).name);
}

std::vector<uint8_t> Image(const Case& c) {
  model::GenSpec s;
  s.arch = c.arch;
  s.n_vocab = 600;
  s.n_embd = 256;
  s.n_layer = 2;
  s.n_head = 8;
  s.n_head_kv = 2;
  s.n_ff = 512;
  s.n_ctx = kCtx;
  s.type = c.type;
  s.seed = 17;
  if (std::string(c.arch) == "deepseek2") {
    s.n_expert = 8;
    s.n_expert_used = 2;
    s.n_ff_exp = 128;
    s.n_expert_shared = 1;
    s.n_layer_dense_lead = 1;
    s.q_lora_rank = 64;
    s.kv_lora_rank = 64;
    s.qk_nope_dim = 32;
    s.qk_rope_dim = 32;
    s.v_head_dim = 32;
  }
  gguf::Writer w;
  EXPECT_TRUE(model::GenerateModelWriter(s, &w).ok());
  return w.Serialize();
}

using test_models::Load;

struct Job {
  std::vector<int32_t> prompt;
  runtime::GenerationParams params;
};

std::vector<Job> Jobs(float temperature) {
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) {
    Job j;
    for (int k = 0; k < 5 + 7 * i; ++k) j.prompt.push_back((k * 89 + 31 * i + 1) % 600);
    j.params.sampling.temperature = temperature;
    j.params.sampling.seed = uint64_t(100 + i);
    j.params.max_tokens = 8 + i;
    j.params.ignore_eos = true;
    jobs.push_back(j);
  }
  return jobs;
}

// Every job's tokens through a scheduler over `ex` (all submitted at once).
std::vector<std::vector<int32_t>> Generate(runtime::Executor& ex, const std::vector<Job>& jobs,
                                           int32_t max_sequences) {
  runtime::SchedulerOptions o;
  o.max_sequences = max_sequences;
  o.max_batch_tokens = 48;  // prompts in chunks; 3 ranks: 48 rows are past the ring's threshold
  auto s = runtime::Scheduler::Create(ex, {}, o);
  EXPECT_TRUE(s.ok());
  std::vector<std::vector<int32_t>> out(jobs.size());
  std::vector<std::promise<void>> done(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    runtime::Request r;
    r.prompt = jobs[i].prompt;
    r.params = jobs[i].params;
    r.on_token = [&out, i](const runtime::TokenEvent& e) {
      out[i].push_back(e.token);
      return runtime::Next::kContinue;
    };
    r.on_done = [&done, i](const runtime::GenerationResult& g) {
      EXPECT_TRUE(g.status.ok()) << g.status.ToString();
      done[i].set_value();
    };
    EXPECT_TRUE((*s)->Submit(std::move(r)).ok());
  }
  for (auto& d : done) d.get_future().wait();
  (*s)->Stop();
  return out;
}

std::vector<std::vector<int32_t>> Single(const std::vector<uint8_t>& image,
                                         const std::vector<Job>& jobs) {
  auto m = Load(image, std::nullopt);
  ThreadPool pool(1);
  runtime::Session s(*m, pool, kCtx, {}, runtime::KvBlocksFor(*m, kCtx, 8, 0));
  runtime::Executor ex(s, nullptr);
  return Generate(ex, jobs, 8);
}

// Runs `rank0` on rank 0 of a pool of n_ranks loopback ranks (`stages` pipeline stages); the
// other ranks serve. Every rank sizes its cache the same way, so the block ids are valid
// everywhere.
void RunPool(const std::vector<uint8_t>& image, int n_ranks, int stages,
             const std::function<void(runtime::Executor&)>& rank0) {
  auto f = gguf::File::FromMemory(image.data(), image.size());
  auto desc = parallel::DescribeModel(**f);
  EXPECT_TRUE(desc.ok());
  std::vector<parallel::NodeSpec> nodes;
  for (int r = 0; r < n_ranks; ++r) {
    nodes.push_back({"rank" + std::to_string(r), uint64_t{1} << 30, 1 + r % 2, 0});
  }
  parallel::PlanOptions po;
  po.n_ctx = kCtx;
  po.stages = stages;
  auto plan = parallel::MakePlan(*desc, nodes, po);
  EXPECT_TRUE(plan.ok() && plan->fits);
  auto groups = comm::MakeLoopbackGroups(n_ranks);
  std::vector<Status> status(static_cast<size_t>(n_ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < n_ranks; ++r) {
    threads.emplace_back([&, r] {
      auto m = Load(image, plan->ranks[size_t(r)].shard);
      ThreadPool pool(1);
      std::unique_ptr<comm::Group> stage;
      auto par = runtime::PlanParallelism(*plan, *groups[size_t(r)], &stage);
      if (!par.ok()) {
        status[size_t(r)] = par.status();
        return;
      }
      auto s = runtime::Session::Create(*m, pool, kCtx, *par, runtime::KvBlocksFor(*m, kCtx, 8, 0));
      if (!s.ok()) {
        status[size_t(r)] = s.status();
        return;
      }
      if (r > 0) {
        status[size_t(r)] = runtime::Executor::Serve(**s, *groups[size_t(r)], 30000);
        return;
      }
      runtime::Executor ex(**s, groups[0].get());
      rank0(ex);
      status[0] = ex.Finish();
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < n_ranks; ++r) {
    EXPECT_TRUE(status[size_t(r)].ok()) << r << ": " << status[size_t(r)].ToString();
  }
}

std::vector<std::vector<int32_t>> Pooled(const std::vector<uint8_t>& image,
                                         const std::vector<Job>& jobs, int n_ranks, int stages,
                                         int32_t max_sequences) {
  std::vector<std::vector<int32_t>> out;
  RunPool(image, n_ranks, stages,
          [&](runtime::Executor& ex) { out = Generate(ex, jobs, max_sequences); });
  return out;
}

class BatchPooled : public testing::TestWithParam<Case> {};

TEST_P(BatchPooled, GreedyTokensEqualOneNode) {
  const std::vector<uint8_t> image = Image(GetParam());
  const std::vector<Job> jobs = Jobs(0.0f);
  const auto one = Single(image, jobs);
  for (auto [n, stages] : {std::pair{2, 1}, {3, 1}, {3, 2}}) {
    SCOPED_TRACE("ranks " + std::to_string(n) + " stages " + std::to_string(stages));
    EXPECT_EQ(Pooled(image, jobs, n, stages, 8), one);
  }
}

TEST_P(BatchPooled, SampledTokensUnderLoadEqualAloneInThePool) {
  const std::vector<uint8_t> image = Image(GetParam());
  const std::vector<Job> jobs = Jobs(0.9f);
  const auto alone = Pooled(image, jobs, 3, 1, 1);  // one sequence at a time
  EXPECT_EQ(Pooled(image, jobs, 3, 1, 8), alone);
}

// A worker refuses a malformed step (counts out of bounds, a bad entry) with Corrupt, before
// allocating anything for it.
TEST(BatchPooledServe, MalformedStepsAreRefused) {
  const std::vector<uint8_t> image = Image({"llama", DType::kF32});
  auto m = Load(image, std::nullopt);
  struct Bad {
    uint32_t header[4];
    std::vector<int32_t> payload;
  };
  const std::vector<Bad> bad = {
      {{4, 1u << 30, 1, 0}, {}},             // too many entries
      {{4, 2, 3, 0}, {}},                    // more sequences than entries
      {{4, 1, 1, 1u << 28}, {}},             // too many block ids
      {{4, 1, 1, 1}, {0, 0, 5, 1, 2, 0}},    // the table claims 2 ids of 1
      {{4, 1, 1, 1}, {1, 0, 5, 1, 1, 0}},    // sequence 1 of 1
      {{4, 1, 1, 1}, {0, 0, 5, 1, 1, 999}},  // block id out of range
      {{9, 0, 0, 0}, {}},                    // unknown command
      {{2, 5, 0, 0}, {}},                    // rewind past the current position (0)
  };
  for (const Bad& b : bad) {
    auto groups = comm::MakeLoopbackGroups(2);
    Status served;
    std::thread worker([&] {
      ThreadPool pool(1);
      runtime::Session s(*m, pool, kCtx, {}, 8);
      served = runtime::Executor::Serve(s, *groups[1], 5000);
    });
    uint32_t h[4] = {b.header[0], b.header[1], b.header[2], b.header[3]};
    ASSERT_TRUE(groups[0]->Broadcast(h, sizeof(h), 0).ok());
    if (!b.payload.empty()) {
      std::vector<int32_t> p = b.payload;
      ASSERT_TRUE(groups[0]->Broadcast(p.data(), p.size() * 4, 0).ok());
    }
    worker.join();
    EXPECT_EQ(served.code(), StatusCode::kCorrupt) << served.ToString();
  }
}

// Pooled logits are bit-identical alone and in a large mixed batch (3 ranks: the all-reduce of a
// 48-row batch would take the ring, whose order depends on the batch's size; Step sums in rank
// order).
TEST_P(BatchPooled, LogitsAloneEqualLogitsInAMixedBatch) {
  const std::vector<uint8_t> image = Image(GetParam());
  std::vector<int32_t> a, b;
  for (int k = 0; k < 20; ++k) a.push_back((k * 37 + 5) % 600);
  for (int k = 0; k < 40; ++k) b.push_back((k * 53 + 11) % 600);
  for (int stages : {1, 2}) {
    SCOPED_TRACE("stages " + std::to_string(stages));
    std::vector<float> alone, mixed;
    RunPool(image, 3, stages, [&](runtime::Executor& ex) {
      runtime::StepBatch one;
      one.tables = {{0, 1}};
      for (int p = 0; p < 20; ++p) one.entries.push_back({0, p, a[size_t(p)], 1});
      auto l = ex.Step(one);
      ASSERT_TRUE(l.ok()) << l.status().ToString();
      alone.assign(l->begin(), l->end());
      runtime::StepBatch two;
      two.tables = {{5, 2, 7}, {3, 4}};
      for (int p = 0; p < 40; ++p) two.entries.push_back({0, p, b[size_t(p)], 0});
      for (int p = 0; p < 20; ++p) two.entries.push_back({1, p, a[size_t(p)], 1});
      l = ex.Step(two);
      ASSERT_TRUE(l.ok()) << l.status().ToString();
      mixed.assign(l->begin(), l->end());
    });
    ASSERT_EQ(alone.size(), mixed.size());
    ASSERT_FALSE(alone.empty());
    EXPECT_EQ(0, std::memcmp(alone.data(), mixed.data(), alone.size() * sizeof(float)));
  }
}

// Executor::Rewind: evaluating after a rewind gives the logits of the same tokens evaluated from
// scratch, on every rank (the workers rewind too), and a rewind past the end is refused.
TEST_P(BatchPooled, RewindThenEvalEqualsAFreshEval) {
  const std::vector<uint8_t> image = Image(GetParam());
  const std::vector<int32_t> a = {1, 17, 33, 49, 65, 81, 97, 113}, b = {7, 9, 11};
  const std::vector<int32_t> a5(a.begin(), a.begin() + 5);
  std::vector<float> rewound, fresh;
  RunPool(image, 2, 1, [&](runtime::Executor& ex) {
    ASSERT_TRUE(ex.Eval(a).ok());
    EXPECT_EQ(ex.Rewind(9).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(ex.Rewind(5).ok());
    EXPECT_EQ(ex.n_past(), 5);
    auto l = ex.Eval(b);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    rewound.assign(l->begin(), l->end());
    ASSERT_TRUE(ex.Reset().ok());
    ASSERT_TRUE(ex.Eval(a5).ok());
    l = ex.Eval(b);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    fresh.assign(l->begin(), l->end());
  });
  ASSERT_FALSE(fresh.empty());
  ASSERT_EQ(rewound.size(), fresh.size());
  EXPECT_EQ(0, std::memcmp(rewound.data(), fresh.data(), fresh.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Models, BatchPooled,
                         testing::Values(Case{"llama", DType::kQ8_0}, Case{"qwen3", DType::kF32},
                                         Case{"deepseek2", DType::kF32}),
                         Name);

}  // namespace
}  // namespace shoal
