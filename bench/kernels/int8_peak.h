// The int8 dot-product ceiling of this core, for the kernel benchmarks: a tight loop of
// independent vpdpbusd (u8 x s8, 4 products summed into each int32 lane) with no loads, so the
// matmul figures can be quoted as a share of what the core's int8 units can do. Counts 2 ops per
// product (multiply and add), as the benchmarks' GFLOP/s count 2 * rows * k * n_tok.
#pragma once

#include <string>

namespace shoal::bench {

struct Int8Peak {
  std::string isa;    // "avx512_vnni zmm", "avx_vnni ymm", or "" (no VNNI: not measured)
  double gops = 0;    // int8 ops per second per thread, in units of 1e9
  int n_threads = 0;  // threads that ran the loop at the same time
};

// Runs the loop on n_threads threads at once for about `seconds` each (thread CPU time), and
// returns the median per-thread rate.
Int8Peak MeasureInt8Peak(int n_threads, double seconds = 0.2);

}  // namespace shoal::bench
