#include "runtime/step_times.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <random>
#include <vector>

namespace shoal::runtime {
namespace {

TEST(StepTrailer, RoundTripsAndIsLittleEndian) {
  uint8_t b[kStepTrailerBytes];
  PutStepTrailer({3, 0x0102030405060708ull}, b);
  EXPECT_EQ(b[0], 'S');
  EXPECT_EQ(b[3], 'P');
  EXPECT_EQ(b[4], 3);
  EXPECT_EQ(b[8], 0x08);
  EXPECT_EQ(b[15], 0x01);
  auto t = GetStepTrailer(b, 3, 1);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->passes, 3u);
  EXPECT_EQ(t->compute_us, 0x0102030405060708ull);
}

TEST(StepTrailer, RefusesAWrongMagicOrPassCount) {
  uint8_t b[kStepTrailerBytes];
  PutStepTrailer({2, 10}, b);
  auto other = GetStepTrailer(b, 1, 2);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(other.status().message().find("rank 2"), std::string::npos);
  b[1] ^= 1;
  EXPECT_FALSE(GetStepTrailer(b, 2, 2).ok());
}

// Against a plain reference: the last kStepWindow steps, median by sorting a copy, share as
// the ratio of sums.
TEST(StepTimes, MedianAndShareOverTheWindow) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 10.0);
  const int n_ranks = 3;
  StepTimes st(n_ranks);
  std::deque<std::vector<double>> kept;  // compute per rank, clamped
  std::deque<double> walls;
  for (int step = 0; step < 75; ++step) {
    const double wall = 5 + u(rng);
    std::vector<double> c(n_ranks);
    for (double& x : c) x = u(rng) * 1.2;  // sometimes above the wall: counted as the wall
    st.Record(c, wall);
    for (double& x : c) x = std::min(x, wall);
    kept.push_back(c);
    walls.push_back(wall);
    if (kept.size() > size_t(kStepWindow)) kept.pop_front(), walls.pop_front();
    const std::vector<NodeStepTime> s = st.Summary();
    ASSERT_EQ(s.size(), size_t(n_ranks));
    double wall_sum = 0;
    for (double w : walls) wall_sum += w;
    for (int r = 0; r < n_ranks; ++r) {
      std::vector<double> v;
      double sum = 0;
      for (const auto& row : kept) v.push_back(row[size_t(r)]), sum += row[size_t(r)];
      std::sort(v.begin(), v.end());
      const size_t n = v.size();
      const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      EXPECT_DOUBLE_EQ(s[size_t(r)].step_ms, median) << "step " << step << " rank " << r;
      EXPECT_NEAR(s[size_t(r)].share, sum / wall_sum, 1e-12);
      EXPECT_LE(s[size_t(r)].share, 1.0);
      EXPECT_EQ(s[size_t(r)].steps, step + 1);
    }
  }
}

TEST(StepTimes, EmptyUntilTheFirstStepAndIgnoresAWrongRankCount) {
  StepTimes st(2);
  for (const NodeStepTime& n : st.Summary()) {
    EXPECT_EQ(n.steps, 0);
    EXPECT_EQ(n.share, 0.0);
  }
  st.Record(std::vector<double>{1.0}, 4.0);  // one value for two ranks
  EXPECT_EQ(st.steps(), 0);
  st.Record(std::vector<double>{1.0, 3.0}, 4.0);
  const auto s = st.Summary();
  EXPECT_DOUBLE_EQ(s[0].share, 0.25);
  EXPECT_DOUBLE_EQ(s[1].share, 0.75);
  EXPECT_DOUBLE_EQ(s[1].step_ms, 3.0);
}

}  // namespace
}  // namespace shoal::runtime
