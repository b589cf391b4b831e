// shoal_comm_bench: collective latencies over shm and tcp with ranks as processes, as JSON.
//   shoal_comm_bench                    # the default matrix (about a minute on 2 cores)
//   shoal_comm_bench --quick            # fewer iterations
//   shoal_comm_bench --sweep            # Direct vs Ring across sizes (for kDirectMaxBytes)
#include <cstdio>
#include <cstring>
#include <iostream>

#include "bench/comm/collective_bench_lib.h"

int main(int argc, char** argv) {
  shoal::comm::bench::Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      o.seconds_per_case = 0.2;
      o.warmup_iters = 10;
    } else if (std::strcmp(argv[i], "--sweep") == 0) {
      o.counts = {4096, 16384, 65536, 262144, 1048576};
      o.ranks = {4, 8};
      o.algorithms = {shoal::comm::Algorithm::kDirect, shoal::comm::Algorithm::kRing};
      o.busy_poll = false;
      o.seconds_per_case = 0.4;
    } else if (std::strcmp(argv[i], "--no-busy") == 0) {
      o.busy_poll = false;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--sweep] [--no-busy]\n", argv[0]);
      return 2;
    }
  }
  std::cout << shoal::comm::bench::RunCollectiveBench(o).dump(2) << std::endl;
  return 0;
}
