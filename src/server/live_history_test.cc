#include "server/live_history.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace shoal::server {
namespace {

runtime::SchedulerStats Stats(int64_t prompt, int64_t generated, int64_t running = 0) {
  runtime::SchedulerStats s;
  s.prompt_tokens_total = prompt;
  s.generated_tokens_total = generated;
  s.requests_running = running;
  return s;
}

TEST(LiveHistory, FirstReadingIsOnlyTheBaseline) {
  LiveHistory h(8);
  h.Record(1000, Stats(50, 70), {});
  EXPECT_EQ(h.size(), 0u);
  EXPECT_FALSE(h.latest().has_value());
}

TEST(LiveHistory, RatesAreCounterDeltasOverElapsedTime) {
  // Random intervals and increments; the expected rate is worked out here from the raw readings.
  std::mt19937 rng(7);
  LiveHistory h(1000);
  int64_t t = 1'700'000'000'000, prompt = 0, gen = 0;
  h.Record(t, Stats(prompt, gen), {});
  std::vector<double> want_prompt, want_gen;
  for (int i = 0; i < 50; ++i) {
    const int64_t dt = 200 + int64_t(rng() % 2000);
    const int64_t dp = int64_t(rng() % 5000), dg = int64_t(rng() % 300);
    t += dt;
    prompt += dp;
    gen += dg;
    h.Record(t, Stats(prompt, gen, i % 4), {});
    want_prompt.push_back(double(dp) * 1000.0 / double(dt));
    want_gen.push_back(double(dg) * 1000.0 / double(dt));
  }
  const std::vector<LiveSample> got = h.Since(-1);
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].prompt_tokens_per_s, want_prompt[i], 1e-9 * (1 + want_prompt[i])) << i;
    EXPECT_NEAR(got[i].decode_tokens_per_s, want_gen[i], 1e-9 * (1 + want_gen[i])) << i;
    EXPECT_EQ(got[i].requests_running, int64_t(i % 4));
  }
}

TEST(LiveHistory, KeepsOnlyTheNewestCapacitySamplesInOrder) {
  LiveHistory h(5);
  for (int64_t i = 0; i <= 12; ++i) h.Record(i * 1000, Stats(0, i * 10), {});
  EXPECT_EQ(h.size(), 5u);
  const std::vector<LiveSample> all = h.Since(-1);
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].t_ms, int64_t(8 + i) * 1000);
  EXPECT_EQ(h.latest()->t_ms, 12000);
  const std::vector<LiveSample> newer = h.Since(10000);
  ASSERT_EQ(newer.size(), 2u);
  EXPECT_EQ(newer[0].t_ms, 11000);
  EXPECT_EQ(newer[1].t_ms, 12000);
  EXPECT_TRUE(h.Since(12000).empty());
}

TEST(LiveHistory, TimeToFirstTokenIsTheMeanOfGenerationsFinishedInTheInterval) {
  LiveHistory h(8);
  h.Record(0, Stats(0, 0), {2, 2, 300.0, ""});
  // Four finished, three with a token (40, 50, 90 ms), one without (an error: no TTFT).
  h.Record(1000, Stats(0, 0), {6, 5, 300.0 + 40 + 50 + 90, ""});
  h.Record(2000, Stats(0, 0), {6, 5, 480.0, ""});  // none finished
  const std::vector<LiveSample> s = h.Since(-1);
  ASSERT_EQ(s.size(), 2u);
  ASSERT_TRUE(s[0].ttft_ms.has_value());
  EXPECT_DOUBLE_EQ(*s[0].ttft_ms, 60.0);
  EXPECT_FALSE(s[1].ttft_ms.has_value());
  EXPECT_TRUE(LiveHistory::ToJson(s[1])["ttft_ms"].is_null());
}

TEST(LiveHistory, ClockGoingBackAndCounterResetsGiveNoNegativeRates) {
  LiveHistory h(8);
  h.Record(5000, Stats(100, 100), {});
  h.Record(4000, Stats(200, 200), {});  // clock went back: a new baseline, no sample
  EXPECT_EQ(h.size(), 0u);
  h.Record(5000, Stats(10, 10), {});  // counters smaller than before: a restart
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.latest()->prompt_tokens_per_s, 0.0);
  EXPECT_EQ(h.latest()->decode_tokens_per_s, 0.0);
}

}  // namespace
}  // namespace shoal::server
