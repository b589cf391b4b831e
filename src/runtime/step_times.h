// Per-node step time of a pooled engine (docs/dashboard.md, docs/wire-protocol.md). Every rank
// measures how long each forward pass spent computing: the pass's wall time less the time it
// spent inside collectives (waiting on its peers, moving bytes). The figure travels to rank 0 in
// a 16-byte trailer of the logits gather that ends a step, so it costs no message of its own.
// Rank 0 keeps the last kStepWindow steps of every rank with its own wall time of each, and
// summarizes them: the median compute time per step, and the share of rank 0's step wall time
// each rank spent computing.
//
// A "step" is the forward passes up to and including one whose logits are gathered (one
// scheduler step as a rule; a step whose batch asks for no logits counts with the next).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace shoal::runtime {

inline constexpr size_t kStepTrailerBytes = 16;
inline constexpr uint32_t kStepTrailerMagic = 0x50455453;  // "STEP" little-endian
inline constexpr int kStepWindow = 32;                     // steps kept per rank

// What one rank reports with a gather: u32 magic, u32 passes, u64 compute_us (little-endian).
struct StepTrailer {
  uint32_t passes = 0;      // forward passes since its last trailer
  uint64_t compute_us = 0;  // time those passes spent computing
};

void PutStepTrailer(const StepTrailer& t, uint8_t out[kStepTrailerBytes]);
// Corrupt for a wrong magic, or a pass count that is not rank 0's own (every rank runs the same
// passes); `rank` names the sender in the message.
StatusOr<StepTrailer> GetStepTrailer(const uint8_t in[kStepTrailerBytes], uint32_t passes,
                                     int rank);

struct NodeStepTime {
  double step_ms = 0;  // median compute time per step over the window
  double share = 0;    // sum of its compute over the sum of rank 0's step wall time (window)
  int64_t steps = 0;   // steps recorded since the engine started
};

class StepTimes {
 public:
  explicit StepTimes(int n_ranks = 1);
  int n_ranks() const { return n_ranks_; }
  // One step: each rank's compute time (rank order) and rank 0's wall time. A rank's compute is
  // counted at most the wall time (clocks of different machines are not compared; a rank
  // cannot compute longer than the step it took part in lasted on rank 0, but measuring noise
  // could say so). Ignored when compute_ms has not n_ranks values.
  void Record(std::span<const double> compute_ms, double wall_ms);
  // Per rank, rank order; steps 0 and zeros before the first step.
  std::vector<NodeStepTime> Summary() const;
  int64_t steps() const { return steps_; }

 private:
  int n_ranks_;
  std::vector<double> compute_ms_;  // [kStepWindow][n_ranks], a ring
  std::vector<double> wall_ms_;     // [kStepWindow]
  int64_t steps_ = 0;
};

}  // namespace shoal::runtime
