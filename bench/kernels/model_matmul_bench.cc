// The matmuls of one forward pass of the 1B llama-shaped model (n_embd 2048, 16 layers, 8 KV
// heads of 64, ffn 5632, vocab 128256: the shape `shoal bench` generates), without the rest of
// the engine: an upper bound on decode / prefill speed from the kernels alone, next to a memory
// read probe measured in the same run. Weights are random bytes with valid scales, all resident
// (0.55 GB q4_0, 1.04 GB q8_0 per layout), so decode streams them from DRAM.
//
//   shoal_model_matmul_bench [--threads 1,2] [--types q4_0,q8_0] [--layouts plain,x8]
//                            [--n_tok 1,64] [--reps 5] [--tiles batch,legacy]
//
// Per forward: q, k, v, o, gate+up, down of each layer (one thread-pool run each, rows split in
// chunks of 16 as the engine does), then the output matrix for the last token only. Prints one
// JSON line per (type, layout, threads, n_tok, tiles): tok/s and weight GB/s (median of reps,
// wall time). --tiles batch,legacy runs the batch tiles and the tiles as they were before them
// (repack.h SetSmallBatchTiles) alternately, rep by rep on the same matrices, so both see the
// same machine; with two it adds a line with the ratio of the medians (legacy ms / batch ms).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

namespace {

using shoal::DType;
namespace k = shoal::kernels;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> Split(const std::string& v) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= v.size()) {
    const size_t c = std::min(v.find(',', p), v.size());
    out.push_back(v.substr(p, c - p));
    p = c + 1;
  }
  return out;
}

struct Matrix {
  int64_t rows, cols;
  std::vector<uint8_t> data;
};

// Random quants; every f16 scale set to 1/128 (both layouts: plain blocks start with d, x8 block
// columns start with 8 d's).
Matrix MakeMatrix(DType t, bool x8, int64_t rows, int64_t cols, std::mt19937_64& rng) {
  Matrix m{rows, cols, std::vector<uint8_t>(shoal::RowBytes(t, cols) * rows)};
  for (size_t i = 0; i + 8 <= m.data.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(m.data.data() + i, &v, 8);
  }
  const size_t bb = t == DType::kQ4_0 ? 18 : 34;
  const uint16_t d = 0x2000;  // f16 1/128
  const size_t step = x8 ? 8 * bb : bb, n_d = x8 ? 8 : 1;
  for (size_t at = 0; at < m.data.size(); at += step) {
    for (size_t j = 0; j < n_d; ++j) std::memcpy(m.data.data() + at + 2 * j, &d, 2);
  }
  return m;
}

double ReadProbeGBps(shoal::ThreadPool& pool) {
  std::vector<uint64_t> buf((size_t{1} << 30) / 8, 1);
  std::vector<uint64_t> sums(pool.size());
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = Now();
    pool.Run([&](int ti, int nt) {
      int64_t b, e;
      shoal::ThreadPool::Chunk(static_cast<int64_t>(buf.size()), 4096, ti, nt, &b, &e);
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t i = b; i + 4 <= e; i += 4) {
        s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
      }
      sums[ti] = s0 + s1 + s2 + s3;
    });
    best = std::max(best, static_cast<double>(buf.size() * 8) / (Now() - t0) / 1e9);
  }
  return best;
}

void Run(DType t, bool x8, int64_t n_tok, int reps, const std::vector<std::string>& tiles,
         shoal::ThreadPool& pool) {
  const int64_t E = 2048, KV = 512, FF = 5632, V = 128256, L = 16;
  std::mt19937_64 rng(7);
  std::vector<Matrix> mats;
  size_t bytes = 0;
  for (int64_t l = 0; l < L; ++l) {
    for (auto [r, c] : {std::pair{E, E}, {KV, E}, {KV, E}, {E, E}, {FF, E}, {FF, E}, {E, FF}}) {
      mats.push_back(MakeMatrix(t, x8, r, c, rng));
      bytes += mats.back().data.size();
    }
  }
  mats.push_back(MakeMatrix(t, x8, V, E, rng));
  bytes += mats.back().data.size();
  std::vector<float> x(n_tok * FF, 0.5f), y(std::max(n_tok * FF, V));
  std::vector<uint8_t> xe(n_tok * k::ActivationRowBytes(t, E)),
      xf(n_tok * k::ActivationRowBytes(t, FF));
  k::ConvertActivations(t, x.data(), E, E, n_tok, xe.data());
  k::ConvertActivations(t, x.data(), FF, FF, n_tok, xf.data());
  auto mm = [&](const Matrix& m, int64_t nt, int64_t r0, int64_t r1) {
    const void* xq = m.cols == E ? xe.data() : xf.data();
    if (r0 >= r1) return;
    if (x8) {
      k::MatMulRepacked(t, m.data.data(), m.cols, xq, nt, y.data(), m.rows, r0, r1);
    } else {
      k::MatMul(t, m.data.data(), shoal::RowBytes(t, m.cols), m.cols, xq, nt, y.data(), m.rows, r0,
                r1);
    }
  };
  auto forward = [&] {
    for (int64_t l = 0; l < L; ++l) {
      const Matrix* w = &mats[l * 7];
      for (int i : {0, 1, 2, 3, 6}) {
        pool.Run([&](int ti, int nt) {
          int64_t r0, r1;
          shoal::ThreadPool::Chunk(w[i].rows, 16, ti, nt, &r0, &r1);
          mm(w[i], n_tok, r0, r1);
        });
      }
      pool.Run([&](int ti, int nt) {  // gate and up
        int64_t r0, r1;
        shoal::ThreadPool::Chunk(FF, 16, ti, nt, &r0, &r1);
        mm(w[4], n_tok, r0, r1);
        mm(w[5], n_tok, r0, r1);
      });
    }
    pool.Run([&](int ti, int nt) {
      int64_t r0, r1;
      shoal::ThreadPool::Chunk(V, 16, ti, nt, &r0, &r1);
      mm(mats.back(), 1, r0, r1);
    });
  };
  forward();
  std::vector<std::vector<double>> s(tiles.size());
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < tiles.size(); ++i) {
      k::SetSmallBatchTiles(tiles[i] != "legacy");
      const double t0 = Now();
      forward();
      s[i].push_back(Now() - t0);
    }
  }
  k::SetSmallBatchTiles(true);
  std::vector<double> meds;
  for (size_t i = 0; i < tiles.size(); ++i) {
    std::sort(s[i].begin(), s[i].end());
    const double med = s[i][s[i].size() / 2];
    meds.push_back(med);
    std::printf(
        "{\"type\":\"%s\",\"layout\":\"%s\",\"threads\":%d,\"n_tok\":%lld,\"tiles\":\"%s\","
        "\"weight_bytes\":%zu,\"ms_per_forward\":%.2f,\"tok_s\":%.2f,\"weight_GBps\":%.2f}\n",
        std::string(shoal::DTypeName(t)).c_str(), x8 ? "x8" : "plain", pool.size(),
        static_cast<long long>(n_tok), tiles[i].c_str(), bytes, med * 1e3,
        static_cast<double>(n_tok) / med, static_cast<double>(bytes) / med / 1e9);
  }
  if (tiles.size() == 2) {
    std::printf(
        "{\"type\":\"%s\",\"layout\":\"%s\",\"threads\":%d,\"n_tok\":%lld,\"%s_over_%s\":%.3f}\n",
        std::string(shoal::DTypeName(t)).c_str(), x8 ? "x8" : "plain", pool.size(),
        static_cast<long long>(n_tok), tiles[1].c_str(), tiles[0].c_str(), meds[1] / meds[0]);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> threads = {"1", "2"}, types = {"q4_0", "q8_0"},
                           layouts = {"plain", "x8"}, n_toks = {"1", "64"}, tiles = {"batch"};
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") {
      threads = Split(v);
    } else if (a == "--types") {
      types = Split(v);
    } else if (a == "--layouts") {
      layouts = Split(v);
    } else if (a == "--n_tok") {
      n_toks = Split(v);
    } else if (a == "--tiles") {
      tiles = Split(v);
    } else if (a == "--reps") {
      reps = std::max(1, std::atoi(v.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  for (const std::string& th : threads) {
    shoal::ThreadPool pool(std::atoi(th.c_str()));
    std::printf("{\"threads\":%d,\"read_probe_GBps\":%.2f}\n", pool.size(), ReadProbeGBps(pool));
    for (const std::string& name : types) {
      const auto t = shoal::DTypeFromName(name);
      if (!t || (*t != DType::kQ4_0 && *t != DType::kQ8_0)) {
        std::fprintf(stderr, "type %s: q4_0 or q8_0 only\n", name.c_str());
        return 2;
      }
      for (const std::string& l : layouts) {
        for (const std::string& n : n_toks)
          Run(*t, l == "x8", std::atoll(n.c_str()), reps, tiles, pool);
      }
    }
  }
  return 0;
}
