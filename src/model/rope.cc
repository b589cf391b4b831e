#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace shoal::model {
namespace {

// The pair index whose wavelength makes n_rot turns over the original context (YaRN paper,
// section 3.2), in pair units of a rope_dim-sized rotation.
double YarnCorrDim(int32_t rope_dim, int32_t orig_ctx, double n_rot, double base) {
  return rope_dim * std::log(orig_ctx / (n_rot * 2.0 * M_PI)) / (2.0 * std::log(base));
}

}  // namespace

Rope::Rope(const ModelConfig& c, std::span<const float> freq_divisors) : style_(c.rope_style) {
  const int32_t n = c.rope_dim / 2;
  inv_freq_.resize(n);
  const double base = c.rope_freq_base;
  double low = 0, high = 0;
  if (c.rope_scaling == RopeScaling::kYarn) {
    const int32_t orig = c.rope_scaling_orig_ctx > 0 ? c.rope_scaling_orig_ctx : c.n_ctx_train;
    low = std::max(0.0, std::floor(YarnCorrDim(c.rope_dim, orig, c.yarn_beta_fast, base)));
    high = std::min(c.rope_dim - 1.0,
                    std::ceil(YarnCorrDim(c.rope_dim, orig, c.yarn_beta_slow, base)));
    mscale_ = static_cast<float>(c.yarn_attn_factor *
                                 (1.0 + 0.1 * std::log(double(c.rope_scaling_factor))));
  }
  for (int32_t i = 0; i < n; ++i) {
    double f = std::pow(base, -2.0 * i / c.rope_dim);
    switch (c.rope_scaling) {
      case RopeScaling::kNone:
        break;
      case RopeScaling::kLinear:
        f /= c.rope_scaling_factor;
        break;
      case RopeScaling::kYarn: {
        // Pairs below `low` rotate fast (keep their frequency: extrapolate), pairs above `high`
        // are interpolated (divided by the factor), a linear ramp between.
        const double t = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
        const double extrap = 1.0 - t;
        f = f / c.rope_scaling_factor * (1.0 - extrap) + f * extrap;
        break;
      }
      case RopeScaling::kLlama3:
        break;  // the divisors below
    }
    if (!freq_divisors.empty()) f /= freq_divisors[i];
    inv_freq_[i] = f;
  }
}

void Rope::Angles(int32_t pos, float* cos_out, float* sin_out) const {
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const double a = pos * inv_freq_[i];
    cos_out[i] = static_cast<float>(std::cos(a)) * mscale_;
    sin_out[i] = static_cast<float>(std::sin(a)) * mscale_;
  }
}

void Rope::Apply(float* head, const float* cos, const float* sin) const {
  const int32_t n = n_pairs();
  if (style_ == RopeStyle::kNormal) {
    for (int32_t i = 0; i < n; ++i) {
      const float a = head[2 * i], b = head[2 * i + 1];
      head[2 * i] = a * cos[i] - b * sin[i];
      head[2 * i + 1] = a * sin[i] + b * cos[i];
    }
  } else {
    for (int32_t i = 0; i < n; ++i) {
      const float a = head[i], b = head[i + n];
      head[i] = a * cos[i] - b * sin[i];
      head[i + n] = a * sin[i] + b * cos[i];
    }
  }
}

}  // namespace shoal::model
