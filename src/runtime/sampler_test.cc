#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace shoal::runtime {
namespace {

// The distribution the sampler should draw from, computed the plain way in double: penalties,
// full sort, top-k, top-p (temperature 1), min-p, softmax at the temperature.
std::vector<double> ReferenceProbs(const std::vector<float>& logits, const SamplerParams& p,
                                   const std::vector<int32_t>& history) {
  const size_t n = logits.size();
  std::vector<double> l(logits.begin(), logits.end());
  std::map<int32_t, int> count;
  const size_t window = static_cast<size_t>(std::max(0, p.repeat_last_n));
  const size_t first = history.size() > window ? history.size() - window : 0;
  for (size_t i = first; i < history.size(); ++i) ++count[history[i]];
  for (auto [id, c] : count) {
    double& x = l[static_cast<size_t>(id)];
    x = x > 0 ? x / p.repeat_penalty : x * p.repeat_penalty;
    x -= c * double(p.frequency_penalty) + double(p.presence_penalty);
  }
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  size_t keep = n;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) keep = static_cast<size_t>(p.top_k);
  const double lmax = l[order[0]];
  if (p.top_p < 1.0f) {
    double total = 0;
    for (size_t i = 0; i < keep; ++i) total += std::exp(l[order[i]] - lmax);
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += std::exp(l[order[i]] - lmax) / total;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    size_t k = 0;
    while (k < keep && std::exp(l[order[k]] - lmax) >= p.min_p) ++k;
    keep = std::max<size_t>(k, 1);
  }
  std::vector<double> probs(n, 0.0);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[order[i]] = std::exp((l[order[i]] - lmax) / p.temperature);
    total += probs[order[i]];
  }
  for (double& x : probs) x /= total;
  return probs;
}

std::vector<float> RandomLogits(size_t n, float scale, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// Draws n_samples tokens with a sampler that has accepted `history`, and checks every token's
// frequency against the reference probability within 5 standard deviations; a token the
// reference excludes must never appear.
void ExpectDistribution(const std::vector<float>& logits, const SamplerParams& params,
                        const std::vector<int32_t>& history, int n_samples) {
  const std::vector<double> ref = ReferenceProbs(logits, params, history);
  Sampler s(params);
  for (int32_t t : history) s.Accept(t);
  std::vector<int> hits(logits.size(), 0);
  for (int i = 0; i < n_samples; ++i) {
    const int32_t t = s.Sample(logits);
    ASSERT_GE(t, 0);
    ASSERT_LT(static_cast<size_t>(t), logits.size());
    ++hits[static_cast<size_t>(t)];
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    const double f = double(hits[i]) / n_samples;
    if (ref[i] == 0.0) {
      EXPECT_EQ(hits[i], 0) << "token " << i << " should have been filtered out";
      continue;
    }
    const double sigma = std::sqrt(ref[i] * (1 - ref[i]) / n_samples);
    EXPECT_NEAR(f, ref[i], 5 * sigma + 1e-4) << "token " << i;
  }
}

TEST(Rng, MatchesPublishedXoshiro256StarStar) {
  // Reference values from an independent (Python) implementation of splitmix64 seeding +
  // xoshiro256**, seed 12345.
  Rng r(12345);
  EXPECT_EQ(r.Next(), 0xbe6a36374160d49bULL);
  EXPECT_EQ(r.Next(), 0x214aaa0637a688c6ULL);
  EXPECT_EQ(r.Next(), 0xf69d16de9954d388ULL);
  EXPECT_EQ(r.Next(), 0x0c60048c4e96e033ULL);
}

TEST(Rng, UniformInUnitInterval) {
  Rng r(7);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
}

TEST(Sampler, GreedyIsArgmax) {
  SamplerParams p;
  p.temperature = 0;
  for (uint32_t seed = 0; seed < 50; ++seed) {
    const std::vector<float> l = RandomLogits(1000, 2.0f, seed);
    Sampler s(p);
    EXPECT_EQ(s.Sample(l), std::max_element(l.begin(), l.end()) - l.begin());
  }
}

TEST(Sampler, GreedyTiesPickLowestId) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  EXPECT_EQ(s.Sample(std::vector<float>{1, 3, 2, 3, 3}), 1);
}

// NaN counts as -inf; a row with no finite logit gives the first id, as the candidate path does.
TEST(Sampler, GreedySkipsNaNs) {
  SamplerParams p;
  p.temperature = 0;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Sampler s(p);
  EXPECT_EQ(s.Sample(std::vector<float>{nan, 2, nan, 2, -inf}), 1);
  EXPECT_EQ(s.Sample(std::vector<float>{nan, -inf, nan}), 0);
  EXPECT_EQ(s.Sample(std::vector<float>{-inf, nan, -1}), 2);
  // Penalties in effect go through the candidates, with the same rule for NaN.
  p.repeat_penalty = 2.0f;
  Sampler pen(p);
  pen.Accept(1);
  EXPECT_EQ(pen.Sample(std::vector<float>{nan, 3, nan, 2}), 3);  // 3 / 2 < 2
  EXPECT_EQ(pen.Sample(std::vector<float>{nan, -inf, nan}), 0);
}

TEST(Sampler, TopK1IsGreedy) {
  SamplerParams p;
  p.temperature = 1.5f;
  p.top_k = 1;
  p.top_p = 1;
  p.min_p = 0;
  Sampler s(p);
  for (uint32_t seed = 0; seed < 50; ++seed) {
    const std::vector<float> l = RandomLogits(500, 1.0f, seed);
    EXPECT_EQ(s.Sample(l), std::max_element(l.begin(), l.end()) - l.begin());
  }
}

TEST(Sampler, NanAndInfinityDoNotCrash) {
  SamplerParams p;
  p.temperature = 1;
  Sampler s(p);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(s.Sample(std::vector<float>{-inf, nan, 1.0f, -inf}), 2);
  const int32_t t = s.Sample(std::vector<float>{-inf, -inf, -inf});
  EXPECT_GE(t, 0);
  EXPECT_LT(t, 3);
  EXPECT_EQ(s.Sample(std::vector<float>{}), -1);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  p.seed = 99;
  const std::vector<float> l = RandomLogits(300, 1.0f, 3);
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.Sample(l));
    tb.push_back(b.Sample(l));
  }
  EXPECT_EQ(ta, tb);
  a.Reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.Sample(l));
  EXPECT_EQ(ta, again);
  p.seed = 100;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.Sample(l));
  EXPECT_NE(ta, tc);
}

TEST(Sampler, PlainSoftmaxDistribution) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  p.seed = 1;
  ExpectDistribution(RandomLogits(12, 1.0f, 11), p, {}, 200000);
}

TEST(Sampler, TemperatureDistribution) {
  SamplerParams p;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  p.seed = 2;
  p.temperature = 0.5f;
  ExpectDistribution(RandomLogits(10, 1.0f, 12), p, {}, 200000);
  p.temperature = 2.0f;
  ExpectDistribution(RandomLogits(10, 1.0f, 13), p, {}, 200000);
}

TEST(Sampler, TopKDistribution) {
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_k = 5;
  p.top_p = 1;
  p.min_p = 0;
  p.seed = 3;
  ExpectDistribution(RandomLogits(40, 1.0f, 14), p, {}, 200000);
}

TEST(Sampler, TopPDistribution) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.7f;
  p.min_p = 0;
  p.seed = 4;
  ExpectDistribution(RandomLogits(30, 1.5f, 15), p, {}, 200000);
}

TEST(Sampler, TopPOnLargeVocabularySortsEnough) {
  // No top-k, so the sampler sorts a growing prefix; the kept set must equal the reference's.
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.9f;
  p.min_p = 0;
  p.seed = 5;
  ExpectDistribution(RandomLogits(2000, 2.5f, 16), p, {}, 10000);
}

TEST(Sampler, MinPCutoff) {
  // p_i / p_max = exp(l_i - l_max): token 1 is at 0.30, token 2 at 0.19, token 3 at 0.05.
  const std::vector<float> l = {0.0f, std::log(0.30f), std::log(0.19f), std::log(0.05f)};
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0.2f;
  p.seed = 6;
  const std::vector<double> ref = ReferenceProbs(l, p, {});
  EXPECT_GT(ref[1], 0);
  EXPECT_EQ(ref[2], 0);
  EXPECT_EQ(ref[3], 0);
  ExpectDistribution(l, p, {}, 100000);
  p.min_p = 0.1f;
  ExpectDistribution(l, p, {}, 100000);
  p.min_p = 1.0f;  // only the maximum survives
  ExpectDistribution(l, p, {}, 1000);
}

TEST(Sampler, CombinedChainDistribution) {
  SamplerParams p;
  p.temperature = 0.7f;
  p.top_k = 20;
  p.top_p = 0.9f;
  p.min_p = 0.02f;
  p.repeat_penalty = 1.3f;
  p.presence_penalty = 0.2f;
  p.frequency_penalty = 0.1f;
  p.repeat_last_n = 6;
  p.seed = 7;
  const std::vector<int32_t> history = {0, 1, 2, 3, 3, 5, 7, 7, 7, 8};
  std::vector<float> l = RandomLogits(50, 1.5f, 17);
  for (int id : {3, 7, 8}) l[id] = std::abs(l[id]) + 1.0f;  // penalized while positive
  l[5] = -std::abs(l[5]) - 0.5f;                            // penalized while negative
  ExpectDistribution(l, p, history, 200000);
}

// Greedy picks reveal the penalized logit exactly: a rival just above or below it.
int32_t GreedyWithHistory(const std::vector<float>& l, const SamplerParams& p0,
                          const std::vector<int32_t>& history) {
  SamplerParams p = p0;
  p.temperature = 0;
  Sampler s(p);
  for (int32_t t : history) s.Accept(t);
  return s.Sample(l);
}

TEST(Sampler, RepeatPenaltyDividesPositiveMultipliesNegative) {
  SamplerParams p;
  p.repeat_penalty = 1.25f;
  // 2.0 / 1.25 = 1.6
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.61f}, p, {0}), 1);
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.59f}, p, {0}), 0);
  // -1.0 * 1.25 = -1.25
  EXPECT_EQ(GreedyWithHistory({-1.0f, -1.24f}, p, {0}), 1);
  EXPECT_EQ(GreedyWithHistory({-1.0f, -1.26f}, p, {0}), 0);
  // Applied once per token, however often it occurred.
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.59f}, p, {0, 0, 0, 0}), 0);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplerParams p;
  p.frequency_penalty = 0.1f;
  p.presence_penalty = 0.2f;
  // 2.0 - 3 * 0.1 - 0.2 = 1.5
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.51f}, p, {0, 0, 0}), 1);
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.49f}, p, {0, 0, 0}), 0);
  // With the repeat penalty first: 2.0 / 2 - 0.1 - 0.2 = 0.7
  p.repeat_penalty = 2.0f;
  EXPECT_EQ(GreedyWithHistory({2.0f, 0.71f}, p, {0}), 1);
  EXPECT_EQ(GreedyWithHistory({2.0f, 0.69f}, p, {0}), 0);
}

TEST(Sampler, PenaltyWindowIsLastN) {
  SamplerParams p;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  // Token 0 has left the window of the last two tokens.
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f, 0.0f}, p, {0, 2, 2}), 0);
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f, 0.0f}, p, {2, 0, 2}), 1);
  // Many tokens through the ring.
  std::vector<int32_t> h;
  for (int i = 0; i < 100; ++i) h.push_back(2);
  h.push_back(0);
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f, 0.0f}, p, h), 1);
  h.push_back(2);
  h.push_back(2);
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f, 0.0f}, p, h), 0);
  p.repeat_last_n = 0;  // off
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f, 0.0f}, p, {0}), 0);
}

TEST(Sampler, OutOfRangeHistoryIgnored) {
  SamplerParams p;
  p.repeat_penalty = 2.0f;
  EXPECT_EQ(GreedyWithHistory({2.0f, 1.5f}, p, {-1, 7}), 0);
}

}  // namespace
}  // namespace shoal::runtime
