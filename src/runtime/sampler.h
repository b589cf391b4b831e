// Picks the next token from a row of logits. The chain is llama.cpp's default order:
//   penalties (repeat, presence, frequency over the last repeat_last_n accepted tokens)
//   -> top-k -> top-p -> min-p -> temperature -> draw from the softmax.
// top-p and min-p therefore see the probabilities at temperature 1, as in llama.cpp.
// temperature <= 0 is greedy: the argmax after penalties (lowest id on ties).
// The random draw uses the sampler's own PRNG (xoshiro256**, seeded through splitmix64), so a
// seed gives the same tokens with any C++ standard library.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace shoal::runtime {

struct SamplerParams {
  float temperature = 0.8f;        // <= 0: greedy
  int32_t top_k = 40;              // <= 0 or >= n_vocab: off
  float top_p = 0.95f;             // >= 1: off
  float min_p = 0.05f;             // keep p >= min_p * p_max; <= 0: off
  float repeat_penalty = 1.0f;     // logit > 0 ? logit / r : logit * r; 1: off
  float presence_penalty = 0.0f;   // logit -= presence if the token occurred
  float frequency_penalty = 0.0f;  // logit -= frequency * count
  int32_t repeat_last_n = 64;      // window of accepted tokens the penalties look at; 0: off
  uint64_t seed = 0;
};

// xoshiro256** (Blackman & Vigna), state filled from splitmix64(seed).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  double Uniform();  // in [0, 1), 53 random bits

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  explicit Sampler(SamplerParams params);

  // Chooses a token id in [0, logits.size()). Does not record it: call Accept with the token
  // actually used (the caller may override the choice).
  int32_t Sample(std::span<const float> logits);
  // Adds a token to the penalty window (prompt tokens too, as llama.cpp does).
  void Accept(int32_t token);
  // Forgets the accepted tokens and restarts the PRNG from the seed.
  void Reset();

  const SamplerParams& params() const { return params_; }

 private:
  // (logit, id) candidates; ordered by logit descending, then id ascending.
  using Candidate = std::pair<float, int32_t>;
  void ApplyPenalties(std::vector<Candidate>* cands) const;

  SamplerParams params_;
  Rng rng_;
  std::vector<int32_t> history_;  // ring of the last repeat_last_n accepted tokens
  size_t history_next_ = 0;       // ring write position once history_ is full
  std::vector<Candidate> cands_;  // scratch
  std::vector<double> probs_;     // scratch
};

}  // namespace shoal::runtime
