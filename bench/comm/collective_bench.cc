// shoal_comm_bench: collective latencies over shm and tcp with ranks as processes, as JSON.
//   shoal_comm_bench                    # the default matrix (about a minute on 2 cores)
//   shoal_comm_bench --quick            # fewer iterations
//   shoal_comm_bench --sweep            # Direct vs Ring across sizes (for kDirectMaxBytes)
//   shoal_comm_bench --transports tcp --ranks 2 --link-security none,auth,seal
//                                       # the cost of sealing tcp frames, side by side
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/comm/collective_bench_lib.h"
#include "comm/channel.h"

namespace {

std::vector<std::string> Split(const char* s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  shoal::comm::bench::Options o;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (has_value && std::strcmp(argv[i], "--link-security") == 0) {
      o.link_security = Split(argv[++i]);
      for (const std::string& l : o.link_security) {
        if (!shoal::comm::ParseLinkSecurity(l).ok()) {
          std::fprintf(stderr, "--link-security: seal, auth or none, not '%s'\n", l.c_str());
          return 2;
        }
      }
      continue;
    }
    if (has_value && std::strcmp(argv[i], "--transports") == 0) {
      o.transports = Split(argv[++i]);
      continue;
    }
    if (has_value && std::strcmp(argv[i], "--counts") == 0) {
      o.counts.clear();
      for (const std::string& c : Split(argv[++i]))
        o.counts.push_back(std::strtoull(c.c_str(), nullptr, 10));
      continue;
    }
    if (has_value && std::strcmp(argv[i], "--ranks") == 0) {
      o.ranks.clear();
      for (const std::string& r : Split(argv[++i])) o.ranks.push_back(std::atoi(r.c_str()));
      continue;
    }
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
      std::fprintf(stderr,
                   "usage: %s [--quick] [--sweep] [--no-busy] [--transports shm,tcp] [--ranks "
                   "2,4,8] [--counts 4096,7168] [--link-security seal,auth,none]\n",
                   argv[0]);
      return 2;
    }
  }
  std::cout << shoal::comm::bench::RunCollectiveBench(o).dump(2) << std::endl;
  return 0;
}
