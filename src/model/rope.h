// Rotary position embedding: the angle of every dimension pair at every position, with the
// scaling variants of ModelConfig (none, linear, yarn, llama3 frequency divisors).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"

namespace shoal::model {

class Rope {
 public:
  // freq_divisors: rope_dim/2 values of rope_freqs.weight, or empty.
  Rope(const ModelConfig& cfg, std::span<const float> freq_divisors);

  int32_t n_pairs() const { return static_cast<int32_t>(inv_freq_.size()); }
  // cos/sin of the n_pairs() angles at position pos (each already multiplied by the YaRN
  // attention factor, 1 otherwise).
  void Angles(int32_t pos, float* cos_out, float* sin_out) const;
  // Rotates the first rope_dim values of one head in place.
  void Apply(float* head, const float* cos, const float* sin) const;

 private:
  RopeStyle style_;
  float mscale_ = 1.0f;
  std::vector<double> inv_freq_;  // radians per position of each pair
};

}  // namespace shoal::model
