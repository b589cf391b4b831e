// The int8 dot-product peak of this machine's cores: what prefill (compute-bound int8 matmuls)
// can hope for, as the read bandwidth probe (membw.h) is for decode. Each path the CPU offers runs
// a loop of independent multiply-accumulates on registers (no memory traffic): AVX512-VNNI
// vpdpbusd on 512-bit registers ("avx512_vnni_512"), vpdpbusd on 256-bit registers (AVX-VNNI,
// else AVX512-VNNI with VL: "vnni_256"), AVX2's maddubs + madd + add ("avx2_maddubs"), NEON's
// sdot where the build targets it ("neon_sdot"), AMX's int8 tile products where the CPU and OS
// have them ("amx_int8": a matrix unit beside the vector units, reported on its own), and a plain
// C++ loop ("scalar") everywhere.
// One multiply-accumulate of two int8 values counts as 2 operations.
#pragma once

#include <string>
#include <vector>

namespace shoal::cli {

struct Int8Peak {
  std::string path;  // as above
  int n_threads = 1;
  double gops = 0;  // 1e9 int8 operations per second, all threads together (best of the reps)
};

// Every path this CPU and build offer, at each thread count (threads run the loop at once).
std::vector<Int8Peak> MeasureInt8Peak(const std::vector<int>& threads, int reps = 3);

}  // namespace shoal::cli
