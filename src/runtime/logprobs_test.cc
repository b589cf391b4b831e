#include "runtime/logprobs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/scheduler.h"

namespace shoal::runtime {
namespace {

// Logits with many exact ties (values on a coarse grid), so the order of equal logits matters.
std::vector<float> TiedLogits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> grid(-40, 40);
  std::vector<float> x(n);
  for (float& v : x) v = 0.25f * float(grid(rng));
  return x;
}

// The plain way, in double: every token's log-probability, then a full stable sort by logit.
TEST(Logprobs, MatchAFullSortInDouble) {
  for (size_t n : {size_t(1), size_t(7), size_t(100), size_t(128256)}) {
    const std::vector<float> x = TiedLogits(n, uint32_t(n));
    double mx = x[0], sum = 0;
    for (float v : x) mx = std::max(mx, double(v));
    for (float v : x) sum += std::exp(double(v) - mx);
    const double lse = mx + std::log(sum);
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return x[size_t(a)] > x[size_t(b)]; });
    for (int32_t n_top : {0, 1, 5, 20, 64, 65, 300}) {
      std::vector<TokenLogprob> top;
      const int32_t token = int32_t(n / 3);
      const float lp = LogSoftmaxAt(x, token, n_top, &top);
      EXPECT_NEAR(lp, double(x[size_t(token)]) - lse, 2e-6 * std::max(1.0, std::fabs(lse)));
      ASSERT_EQ(top.size(), std::min(size_t(n_top), n)) << n << " " << n_top;
      for (size_t i = 0; i < top.size(); ++i) {
        ASSERT_EQ(top[i].token, order[i]) << "n " << n << " top " << n_top << " at " << i;
        EXPECT_NEAR(top[i].logprob, double(x[size_t(order[i])]) - lse,
                    2e-6 * std::max(1.0, std::fabs(lse)));
      }
    }
  }
}

TEST(Logprobs, OutOfRangeTokenAndEmptyRow) {
  const std::vector<float> x = {1.0f, 2.0f};
  std::vector<TokenLogprob> top;
  EXPECT_EQ(LogSoftmaxAt(x, 5, 1, &top), 0.0f);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(LogSoftmaxAt({}, 0, 3, &top), 0.0f);
  EXPECT_TRUE(top.empty());
}

}  // namespace
}  // namespace shoal::runtime
