// A STREAM-like memory read benchmark: the bandwidth decode can hope for on this machine.
#pragma once

#include <cstddef>

namespace shoal::cli {

struct MemBandwidth {
  int n_threads = 1;
  size_t buffer_bytes = 0;
  double read_gb_s = 0;  // best of the repetitions, 1e9 bytes per second
};

// Sums a buffer of `buffer_bytes` (choose it much larger than the last-level cache) with
// n_threads threads, each reading its own contiguous part, `reps` times; returns the best.
MemBandwidth MeasureReadBandwidth(size_t buffer_bytes, int n_threads, int reps);

}  // namespace shoal::cli
