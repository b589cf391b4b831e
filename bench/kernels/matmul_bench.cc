// MatMul micro-benchmark: for each weight type, a rows x k matrix at n_tok = 1 (decode, weight
// streaming) and n_tok = 64 (prefill, compute), single thread and with a thread pool. Prints one
// JSON object per line: GB/s of weight bytes read and GFLOP/s (2 * rows * k * n_tok per call).
//
//   shoal_matmul_bench [--rows R] [--k K] [--threads T] [--copies C] [--types q4_0,q8_0,...]
//                      [--n_tok 1,2,4,...] [--layouts plain,x8] [--tiles batch,legacy]
//                      [--int8 maddubs,avx_vnni,avx512_vnni] [--hwy_target AVX2]
//
// --hwy_target: run the kernels compiled for this Highway target (by its name, e.g. AVX2, AVX3;
// it must be supported here) instead of the best one, to measure the narrower paths on a wider
// CPU; each line says the target in "hwy_target".
//
// --int8: the int8 dot instructions of the q4_0 / q8_0 x8 tiles to run side by side (int8_dot.h;
// default: the one chosen for this CPU); a path the CPU lacks is skipped.
//
// --layouts: "plain" runs MatMul on GGUF rows, "x8" runs MatMulRepacked on the row-interleaved
// layout (q4_0 / q8_0 only), side by side in one run.
//
// --tiles: for the q4_0 / q8_0 x8 kernels at n_tok > 1, "amx" runs the AMX tiles where the CPU
// and OS have them (amx.h; skipped elsewhere), "batch" the AVX batch tiles (AMX off), "legacy"
// the tiles as they were before them (repack.h SetSmallBatchTiles), side by side in one run
// (default: amx,batch); the other types ignore it (run once).
//
// Before the matmuls, one JSON line with the int8 ceiling of the core (int8_peak.h: a tight
// vpdpbusd loop at --threads threads at once); each matmul line then gives "int8_peak_share",
// its GFLOP/s over that ceiling (times the thread count), for the quantized types.
//
// --copies C cycles through C independent copies of the matrix so the working set exceeds the
// last-level cache (C = 1 measures the cache-resident rate).
#include <hwy/targets.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "int8_peak.h"
#include "kernels/amx.h"
#include "kernels/int8_dot.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace {

using shoal::DType;

double CpuNow() {  // this thread's CPU time: robust on a shared, busy machine
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string g_hwy_target = "best";

struct Options {
  int64_t rows = 2048, k = 2048;
  int threads = 1, copies = 1;
  std::vector<std::string> types = {"q4_0", "q8_0", "q4_K", "q6_K", "q5_K", "q3_K", "q2_K",
                                    "q4_1", "q5_0", "q5_1", "f16",  "bf16", "f32"};
  std::vector<int64_t> n_toks = {1, 64};
  std::vector<std::string> layouts = {"plain", "x8"};
  std::vector<std::string> int8;  // empty: the CPU's best
  std::vector<std::string> tiles = {"amx", "batch"};
};

std::vector<std::string> SplitComma(const std::string& v) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= v.size()) {
    const size_t c = std::min(v.find(',', p), v.size());
    out.push_back(v.substr(p, c - p));
    p = c + 1;
  }
  return out;
}

void Bench(const Options& o, DType t, int64_t n_tok, bool x8, const std::string& tiles,
           shoal::ThreadPool& pool, double peak_gops) {
  const size_t row_bytes = shoal::RowBytes(t, o.k);
  const size_t mat_bytes = row_bytes * o.rows;
  std::vector<std::vector<uint8_t>> mats(o.copies);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> f(o.k);
  for (auto& m : mats) {
    m.resize(mat_bytes);
    for (int64_t r = 0; r < o.rows; ++r) {
      for (float& v : f) v = nd(rng);
      uint8_t* row = m.data() + r * row_bytes;
      if (!shoal::kernels::QuantizeRow(t, f.data(), row, o.k)) {
        // Types shoal only reads (iq2/iq3/iq1, MXFP4): random blocks (the kernels' time does not
        // depend on the values).
        for (size_t i = 0; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(rng() >> 24);
        if (t == DType::kMXFP4) {  // exponents near 1 (random ones overflow to inf / NaN)
          for (size_t i = 0; i < row_bytes; i += 17) row[i] = 127;
        }
      }
    }
    if (x8) {
      std::vector<uint8_t> p(shoal::kernels::RepackedBytes(t, o.rows, o.k));
      shoal::kernels::Repack(t, m.data(), row_bytes, o.rows, o.k, p.data());
      m.swap(p);
    }
  }
  std::vector<float> x(n_tok * o.k), y(n_tok * o.rows);
  for (float& v : x) v = nd(rng);
  std::vector<uint8_t> xq(n_tok * shoal::kernels::ActivationRowBytes(t, o.k));
  shoal::kernels::ConvertActivations(t, x.data(), o.k, o.k, n_tok, xq.data());
  const int64_t grain = 16;
  auto run = [&](const std::vector<uint8_t>& m) {
    pool.Run([&](int ti, int nt) {
      int64_t r0, r1;
      shoal::ThreadPool::Chunk(o.rows, grain, ti, nt, &r0, &r1);
      if (r0 < r1 && x8) {
        shoal::kernels::MatMulRepacked(t, m.data(), o.k, xq.data(), n_tok, y.data(), o.rows, r0,
                                       r1);
      } else if (r0 < r1) {
        shoal::kernels::MatMul(t, m.data(), row_bytes, o.k, xq.data(), n_tok, y.data(), o.rows, r0,
                               r1);
      }
    });
  };
  // warm up, then time batches of calls until ~0.3 s; report the median of 5 batches
  for (auto& m : mats) run(m);
  int64_t calls = 1;
  for (;;) {
    const double t0 = Now();
    for (int64_t i = 0; i < calls; ++i) run(mats[i % o.copies]);
    if (Now() - t0 > 0.05) break;
    calls *= 2;
  }
  std::vector<double> per_call, cpu_per_call;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = Now(), c0 = CpuNow();
    for (int64_t i = 0; i < calls; ++i) run(mats[i % o.copies]);
    per_call.push_back((Now() - t0) / static_cast<double>(calls));
    cpu_per_call.push_back((CpuNow() - c0) / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  std::sort(cpu_per_call.begin(), cpu_per_call.end());
  // one thread: CPU time of the caller is the kernel's time without the other tenants' share
  const double s = pool.size() == 1 ? cpu_per_call[2] : per_call[2];
  std::printf(
      "{\"type\":\"%s\",\"layout\":\"%s\",\"rows\":%lld,\"k\":%lld,\"n_tok\":%lld,\"threads\":%d,"
      "\"copies\":%d,"
      "\"int8_dot\":\"%s\",\"tiles\":\"%s\",\"clock\":\"%s\",\"us_per_call\":%.1f,\"weight_GBps\":%"
      ".2f,"
      "\"GFLOPs\":%.2f,\"int8_peak_share\":%.3f,\"hwy_target\":\"%s\"}\n",
      std::string(shoal::DTypeName(t)).c_str(), x8 ? "x8" : "plain", static_cast<long long>(o.rows),
      static_cast<long long>(o.k), static_cast<long long>(n_tok), pool.size(), o.copies,
      shoal::kernels::Int8DotName(shoal::kernels::Int8DotPath()), tiles.c_str(),
      pool.size() == 1 ? "thread_cpu" : "wall", s * 1e6, static_cast<double>(mat_bytes) / s / 1e9,
      2.0 * static_cast<double>(o.rows * o.k * n_tok) / s / 1e9,
      peak_gops > 0
          ? 2.0 * static_cast<double>(o.rows * o.k * n_tok) / s / 1e9 / (peak_gops * pool.size())
          : 0.0,
      g_hwy_target.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--rows") {
      o.rows = std::atoll(v.c_str());
    } else if (a == "--k") {
      o.k = std::atoll(v.c_str());
    } else if (a == "--threads") {
      o.threads = std::atoi(v.c_str());
    } else if (a == "--copies") {
      o.copies = std::max(1, std::atoi(v.c_str()));
    } else if (a == "--n_tok") {
      o.n_toks.clear();
      for (const std::string& n : SplitComma(v)) o.n_toks.push_back(std::atoll(n.c_str()));
    } else if (a == "--types") {
      o.types = SplitComma(v);
    } else if (a == "--layouts") {
      o.layouts = SplitComma(v);
    } else if (a == "--tiles") {
      o.tiles = SplitComma(v);
    } else if (a == "--int8") {
      o.int8 = SplitComma(v);
    } else if (a == "--hwy_target") {
      int64_t found = 0;
      for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
        if (v == hwy::TargetName(t)) found = t;
      }
      if (found == 0) {
        std::fprintf(stderr, "Highway target %s is not compiled or not supported here\n",
                     v.c_str());
        return 2;
      }
      hwy::SetSupportedTargetsForTest(found);
      g_hwy_target = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  shoal::ThreadPool pool(o.threads);
  using shoal::kernels::Int8Dot;
  std::vector<Int8Dot> paths;
  for (const std::string& p : o.int8) {
    const Int8Dot want = p == "avx_vnni"      ? Int8Dot::kAvxVnni
                         : p == "avx512_vnni" ? Int8Dot::kAvx512Vnni
                                              : Int8Dot::kMaddubs;
    if (shoal::kernels::SetInt8Dot(want) == want) paths.push_back(want);
  }
  if (paths.empty()) paths.push_back(shoal::kernels::BestInt8Dot());
  const shoal::bench::Int8Peak peak = shoal::bench::MeasureInt8Peak(o.threads);
  std::printf("{\"probe\":\"int8_peak\",\"isa\":\"%s\",\"threads\":%d,\"GOPs_per_thread\":%.1f}\n",
              peak.isa.c_str(), peak.n_threads, peak.gops);
  for (const std::string& name : o.types) {
    const auto t = shoal::DTypeFromName(name);
    if (!t) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      return 2;
    }
    for (int64_t n_tok : o.n_toks) {
      for (const std::string& l : o.layouts) {
        const bool x8 = l == "x8";
        if (x8 && !shoal::kernels::CanRepack(*t, o.rows, o.k)) continue;
        const bool tiled = (*t == DType::kQ4_0 || *t == DType::kQ8_0 || *t == DType::kQ4_K ||
                            *t == DType::kQ6_K) &&
                           n_tok > 1;
        for (Int8Dot p : paths) {
          shoal::kernels::SetInt8Dot(p);
          for (const std::string& tl : o.tiles) {
            if (shoal::kernels::SetAmx(tl == "amx") != (tl == "amx")) continue;
            shoal::kernels::SetSmallBatchTiles(tl != "legacy");
            Bench(o, *t, n_tok, x8, tiled ? tl : "-", pool, peak.gops);
            if (!tiled) break;
          }
        }
        shoal::kernels::SetSmallBatchTiles(true);
        shoal::kernels::SetAmx(true);
      }
    }
  }
  return 0;
}
