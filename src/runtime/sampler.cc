#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shoal::runtime {
namespace {

uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Higher logit first; equal logits by lower id, so every ordering below is total.
bool Before(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  if (a.first != b.first) return a.first > b.first;
  return a.second < b.second;
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = SplitMix64(&seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) {}

void Sampler::Reset() {
  history_.clear();
  history_next_ = 0;
  rng_ = Rng(params_.seed);
}

void Sampler::Accept(int32_t token) {
  const size_t window = params_.repeat_last_n > 0 ? static_cast<size_t>(params_.repeat_last_n) : 0;
  if (window == 0) return;
  if (history_.size() < window) {
    history_.push_back(token);
  } else {
    history_[history_next_] = token;
    history_next_ = (history_next_ + 1) % window;
  }
}

void Sampler::ApplyPenalties(std::vector<Candidate>* cands) const {
  const SamplerParams& p = params_;
  if (history_.empty() ||
      (p.repeat_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f)) {
    return;
  }
  std::vector<int32_t> seen = history_;
  std::sort(seen.begin(), seen.end());
  const int64_t n_vocab = static_cast<int64_t>(cands->size());
  for (size_t i = 0; i < seen.size();) {
    size_t j = i;
    while (j < seen.size() && seen[j] == seen[i]) ++j;
    const int32_t id = seen[i];
    const float count = static_cast<float>(j - i);
    i = j;
    if (id < 0 || id >= n_vocab) continue;  // a token from another vocabulary: nothing to do
    float& logit = (*cands)[static_cast<size_t>(id)].first;  // cands is still in id order
    logit = logit > 0.0f ? logit / p.repeat_penalty : logit * p.repeat_penalty;
    logit -= count * p.frequency_penalty + p.presence_penalty;
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  const SamplerParams& p = params_;
  const size_t n = logits.size();
  if (n == 0) return -1;
  const bool penalties =
      !history_.empty() &&
      (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f);
  if (p.temperature <= 0.0f && !penalties) {
    // Greedy on the logits as they are: the highest, the lower id on ties, NaN as -inf (what
    // the candidates below give, without building them).
    auto value = [&](size_t i) {
      return std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    };
    size_t best = 0;
    float best_v = value(0);
    for (size_t i = 1; i < n; ++i) {
      if (logits[i] > best_v) best = i, best_v = logits[i];  // NaN compares false
    }
    return static_cast<int32_t>(best);
  }
  cands_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float x = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    cands_[i] = {x, static_cast<int32_t>(i)};
  }
  ApplyPenalties(&cands_);

  if (p.temperature <= 0.0f) {
    return std::min_element(cands_.begin(), cands_.end(), Before)->second;
  }

  // From here cands_[0, m) are the candidates; `sorted` says whether they are in Before order
  // (otherwise they are in id order).
  size_t m = n;
  bool sorted = false;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) {
    m = static_cast<size_t>(p.top_k);
    std::nth_element(cands_.begin(), cands_.begin() + (m - 1), cands_.end(), Before);
    std::sort(cands_.begin(), cands_.begin() + m, Before);
    sorted = true;
  }

  const float max_logit =
      std::min_element(cands_.begin(), cands_.begin() + m, Before)->first;  // Before: first is max
  if (p.top_p < 1.0f && max_logit > -std::numeric_limits<float>::infinity()) {
    double total = 0.0;
    for (size_t i = 0; i < m; ++i) total += std::exp(double(cands_[i].first) - max_logit);
    const double target = double(p.top_p) * total;
    // Sort a growing prefix until the cumulative mass reaches top_p of the total.
    size_t n_sorted = sorted ? m : 0;
    size_t keep = m;
    double cum = 0.0;
    size_t i = 0;
    for (;;) {
      if (!sorted && i == n_sorted) {
        const size_t grow = std::min(m, std::max<size_t>(64, n_sorted * 4));
        // The next block of the order: select it (linear), then sort only it.
        std::nth_element(cands_.begin() + n_sorted, cands_.begin() + (grow - 1), cands_.begin() + m,
                         Before);
        std::sort(cands_.begin() + n_sorted, cands_.begin() + grow, Before);
        n_sorted = grow;
        if (n_sorted == m) sorted = true;
      }
      if (i == m) break;
      cum += std::exp(double(cands_[i].first) - max_logit);
      ++i;
      if (cum >= target) {
        keep = i;
        break;
      }
    }
    if (keep < m) {
      m = keep;
      sorted = true;  // the kept prefix was sorted
    }
  }

  if (p.min_p > 0.0f && max_logit > -std::numeric_limits<float>::infinity()) {
    // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p); the max always stays.
    const double threshold = double(max_logit) + std::log(double(p.min_p));
    auto end = std::stable_partition(cands_.begin(), cands_.begin() + m, [&](const Candidate& c) {
      return double(c.first) >= threshold;
    });
    m = std::max<size_t>(1, static_cast<size_t>(end - cands_.begin()));
  }

  // Softmax at the temperature over the kept candidates, then one draw.
  probs_.resize(m);
  const double inv_t = 1.0 / double(p.temperature);
  double total = 0.0;
  for (size_t i = 0; i < m; ++i) {
    const double x = (double(cands_[i].first) - max_logit) * inv_t;
    probs_[i] = std::exp(x);
    total += probs_[i];
  }
  if (!(total > 0.0) || !std::isfinite(total)) {  // all -inf or NaN logits: fall back to greedy
    return std::min_element(cands_.begin(), cands_.begin() + m, Before)->second;
  }
  const double u = rng_.Uniform() * total;
  double cum = 0.0;
  for (size_t i = 0; i < m; ++i) {
    cum += probs_[i];
    if (u < cum) return cands_[i].second;
  }
  // Rounding left u at the very top: the last candidate with nonzero probability.
  for (size_t i = m; i-- > 0;) {
    if (probs_[i] > 0.0) return cands_[i].second;
  }
  return cands_[0].second;
}

}  // namespace shoal::runtime
