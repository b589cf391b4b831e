// Per-node step time over a pool (runtime/step_times.h): every rank's compute per step reaches
// rank 0 on the logits gather, a node holding most of the work shows the larger share of the
// step, and the steps counted are the steps run.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/loopback/loopback.h"
#include "load_shard.h"
#include "model/generate.h"
#include "parallel/plan.h"
#include "runtime/executor.h"
#include "runtime/pooled.h"
#include "runtime/session.h"

namespace shoal {
namespace {

constexpr int32_t kCtx = 256;

std::vector<uint8_t> Image() {
  model::GenSpec s;
  s.n_vocab = 600;
  s.n_embd = 512;
  s.n_layer = 2;
  s.n_head = 8;
  s.n_head_kv = 8;
  s.n_ff = 2048;
  s.n_ctx = kCtx;
  s.type = DType::kQ8_0;
  s.seed = 5;
  gguf::Writer w;
  EXPECT_TRUE(model::GenerateModelWriter(s, &w).ok());
  return w.Serialize();
}

// Two loopback ranks; rank 1 offers 7 times the bandwidth of rank 0, so the plan gives it most
// of every layer's heads and FFN columns: per step it computes several times longer than rank 0,
// which waits for it in the all-reduces (time that is not counted as computing).
TEST(StepTimesPooled, TheNodeWithMoreWorkHasTheLargerShare) {
  const std::vector<uint8_t> image = Image();
  auto f = gguf::File::FromMemory(image.data(), image.size());
  auto desc = parallel::DescribeModel(**f);
  ASSERT_TRUE(desc.ok());
  std::vector<parallel::NodeSpec> nodes = {{"light", uint64_t{1} << 30, 1, 10.0},
                                           {"heavy", uint64_t{1} << 30, 1, 70.0}};
  parallel::PlanOptions po;
  po.n_ctx = kCtx;
  auto plan = parallel::MakePlan(*desc, nodes, po);
  ASSERT_TRUE(plan.ok() && plan->fits);
  ASSERT_GT(plan->ranks[1].share, 3 * plan->ranks[0].share);
  auto groups = comm::MakeLoopbackGroups(2);
  constexpr int kSteps = 6, kTokens = 32;
  std::vector<Status> status(2);
  std::vector<runtime::NodeStepTime> seen;
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto m = test_models::Load(image, plan->ranks[size_t(r)].shard);
      ThreadPool pool(1);
      std::unique_ptr<comm::Group> stage;
      auto par = runtime::PlanParallelism(*plan, *groups[size_t(r)], &stage);
      if (!par.ok()) {
        status[size_t(r)] = par.status();
        return;
      }
      auto s = runtime::Session::Create(*m, pool, kCtx, *par, kCtx / runtime::kBlockTokens);
      if (!s.ok()) {
        status[size_t(r)] = s.status();
        return;
      }
      if (r > 0) {
        status[size_t(r)] = runtime::Executor::Serve(**s, *groups[size_t(r)], 30000);
        return;
      }
      runtime::Executor ex(**s, groups[0].get());
      std::vector<int32_t> table;
      for (int b = 0; b < kCtx / runtime::kBlockTokens; ++b) table.push_back(b);
      for (int k = 0; k < kSteps && status[0].ok(); ++k) {
        runtime::StepBatch batch;
        batch.tables = {table};
        for (int t = 0; t < kTokens; ++t) {
          const int pos = k * kTokens + t;
          batch.entries.push_back({0, pos, (pos * 37 + 11) % 600, t + 1 == kTokens ? 1 : 0});
        }
        status[0] = ex.Step(batch).status();
      }
      seen = ex.step_times().Summary();
      const Status fin = ex.Finish();
      if (status[0].ok()) status[0] = fin;
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(seen.size(), 2u);
  std::printf("light: %.3f ms per step, share %.3f; heavy: %.3f ms, share %.3f\n", seen[0].step_ms,
              seen[0].share, seen[1].step_ms, seen[1].share);
  for (const runtime::NodeStepTime& n : seen) {
    EXPECT_EQ(n.steps, kSteps);
    EXPECT_GT(n.step_ms, 0.0);
    EXPECT_GT(n.share, 0.0);
    EXPECT_LE(n.share, 1.0);
  }
  EXPECT_GT(seen[1].step_ms, 1.5 * seen[0].step_ms)
      << "light " << seen[0].step_ms << " ms, heavy " << seen[1].step_ms << " ms";
  EXPECT_GT(seen[1].share, 1.5 * seen[0].share)
      << "light " << seen[0].share << ", heavy " << seen[1].share;
}

// One machine alone reports its own step time as rank 0: one figure per step, computing all of
// the step (no collectives), so its share is close to 1 and never above.
TEST(StepTimesPooled, OneMachineAloneReportsItself) {
  const std::vector<uint8_t> image = Image();
  auto m = test_models::Load(image, std::nullopt);
  ASSERT_NE(m, nullptr);
  ThreadPool pool(1);
  runtime::Session s(*m, pool, kCtx, {}, kCtx / runtime::kBlockTokens);
  runtime::Executor ex(s, nullptr);
  runtime::StepBatch batch;
  batch.tables = {{0}};
  for (int t = 0; t < 8; ++t) batch.entries.push_back({0, t, 7 + t, t == 7 ? 1 : 0});
  ASSERT_TRUE(ex.Step(batch).ok());
  const auto seen = ex.step_times().Summary();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].steps, 1);
  EXPECT_GT(seen[0].step_ms, 0.0);
  EXPECT_GT(seen[0].share, 0.5);
  EXPECT_LE(seen[0].share, 1.0);
}

}  // namespace
}  // namespace shoal
