#include "runtime/step_times.h"

#include <algorithm>
#include <string>

namespace shoal::runtime {
namespace {

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}

}  // namespace

void PutStepTrailer(const StepTrailer& t, uint8_t out[kStepTrailerBytes]) {
  PutU32(out, kStepTrailerMagic);
  PutU32(out + 4, t.passes);
  PutU32(out + 8, uint32_t(t.compute_us));
  PutU32(out + 12, uint32_t(t.compute_us >> 32));
}

StatusOr<StepTrailer> GetStepTrailer(const uint8_t in[kStepTrailerBytes], uint32_t passes,
                                     int rank) {
  if (GetU32(in) != kStepTrailerMagic) {
    return Corrupt("rank " + std::to_string(rank) + " sent logits without its step-time trailer");
  }
  StepTrailer t;
  t.passes = GetU32(in + 4);
  t.compute_us = uint64_t(GetU32(in + 8)) | uint64_t(GetU32(in + 12)) << 32;
  if (t.passes != passes) {
    return Corrupt("rank " + std::to_string(rank) + " reports " + std::to_string(t.passes) +
                   " forward passes in a step of " + std::to_string(passes));
  }
  return t;
}

StepTimes::StepTimes(int n_ranks)
    : n_ranks_(std::max(1, n_ranks)),
      compute_ms_(size_t(kStepWindow) * size_t(n_ranks_), 0.0),
      wall_ms_(kStepWindow, 0.0) {}

void StepTimes::Record(std::span<const double> compute_ms, double wall_ms) {
  if (compute_ms.size() != size_t(n_ranks_)) return;
  const size_t slot = size_t(steps_ % kStepWindow);
  wall_ms = std::max(0.0, wall_ms);
  wall_ms_[slot] = wall_ms;
  for (int r = 0; r < n_ranks_; ++r) {
    compute_ms_[slot * size_t(n_ranks_) + size_t(r)] =
        std::clamp(compute_ms[size_t(r)], 0.0, wall_ms);
  }
  ++steps_;
}

std::vector<NodeStepTime> StepTimes::Summary() const {
  std::vector<NodeStepTime> out(static_cast<size_t>(n_ranks_));
  const size_t n = size_t(std::min<int64_t>(steps_, kStepWindow));
  if (n == 0) return out;
  double wall = 0;
  for (size_t i = 0; i < n; ++i) wall += wall_ms_[i];
  std::vector<double> v(n);
  for (int r = 0; r < n_ranks_; ++r) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      v[i] = compute_ms_[i * size_t(n_ranks_) + size_t(r)];
      sum += v[i];
    }
    std::sort(v.begin(), v.end());
    NodeStepTime& o = out[size_t(r)];
    o.step_ms = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    o.share = wall > 0 ? sum / wall : 0.0;
    o.steps = steps_;
  }
  return out;
}

}  // namespace shoal::runtime
