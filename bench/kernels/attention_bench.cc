// Attention micro-benchmark: the tiled online-softmax kernel (kernels/attention.h) against the
// path it replaced (per query row: DotF16 over every position, SoftmaxInPlace, AxpyF16 per
// position), one thread, this thread's CPU time (robust on a busy machine), median of --reps.
// One layer of the 1B llama shape by default: 8 KV heads of 64, 4 query heads each.
//   decode: one token at position P - 1 (every head's row over P positions);
//   prefill: --pp tokens at positions [P, P + pp), grouped 4 tokens x 4 heads per kernel call
//            as the runtime does.
// Prints one JSON object per line: case, positions, path, us per layer, tiled / naive speedup.
//
//   shoal_attention_bench [--positions 1024,4096] [--pp 512] [--kv-heads 8] [--group 4]
//                         [--head-dim 64] [--reps 5]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/quant.h"

namespace {

using namespace shoal::kernels;

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Layer {
  int kv_heads, group, hd;
  int64_t slots;
  std::vector<uint16_t> k, v;  // [kv_head][slot][hd]
};

void Naive(const Layer& L, int kvh, const float* q, int n_kv, float scale, float* sc, float* o) {
  const uint16_t* K = L.k.data() + size_t(kvh) * L.slots * L.hd;
  const uint16_t* V = L.v.data() + size_t(kvh) * L.slots * L.hd;
  for (int j = 0; j < n_kv; ++j) sc[j] = DotF16(K + size_t(j) * L.hd, q, L.hd) * scale;
  SoftmaxInPlace(sc, n_kv);
  std::memset(o, 0, size_t(L.hd) * sizeof(float));
  for (int j = 0; j < n_kv; ++j) AxpyF16(sc[j], V + size_t(j) * L.hd, o, L.hd);
}

// One layer: n_tok tokens at positions [p0, p0 + n_tok), every query head.
double RunLayer(const Layer& L, bool tiled, int p0, int n_tok, const std::vector<float>& q,
                std::vector<float>& out, std::vector<float>& sc) {
  const int H = L.kv_heads * L.group, hd = L.hd;
  const float scale = 1.0f / std::sqrt(float(hd));
  const double t0 = CpuNow();
  if (!tiled) {
    for (int t = 0; t < n_tok; ++t) {
      for (int h = 0; h < H; ++h) {
        Naive(L, h / L.group, q.data() + (size_t(t) * H + h) * hd, p0 + t + 1, scale, sc.data(),
              out.data() + (size_t(t) * H + h) * hd);
      }
    }
    return CpuNow() - t0;
  }
  const int tok_chunk = std::max(1, kAttentionRows / L.group);
  std::vector<const float*> qp;
  std::vector<float*> op;
  std::vector<int32_t> n_kv;
  for (int g = 0; g < L.kv_heads; ++g) {
    for (int t0c = 0; t0c < n_tok; t0c += tok_chunk) {
      qp.clear(), op.clear(), n_kv.clear();
      for (int t = t0c; t < std::min(n_tok, t0c + tok_chunk); ++t) {
        for (int h = g * L.group; h < (g + 1) * L.group; ++h) {
          qp.push_back(q.data() + (size_t(t) * H + h) * hd);
          op.push_back(out.data() + (size_t(t) * H + h) * hd);
          n_kv.push_back(p0 + t + 1);
        }
      }
      AttentionArgs a;
      a.n_q = int32_t(qp.size());
      a.q = qp.data();
      a.out = op.data();
      a.n_kv = n_kv.data();
      a.k = L.k.data() + size_t(g) * L.slots * hd;
      a.v = L.v.data() + size_t(g) * L.slots * hd;
      a.ldk = a.ldv = a.dk = a.dv = hd;
      a.scale = scale;
      Attention(a);
    }
  }
  return CpuNow() - t0;
}

std::vector<int> Ints(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> positions = {1024, 4096};
  int pp = 512, kv_heads = 8, group = 4, hd = 64, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    if (f == "--positions") {
      positions = Ints(argv[i + 1]);
    } else if (f == "--pp") {
      pp = std::atoi(argv[i + 1]);
    } else if (f == "--kv-heads") {
      kv_heads = std::atoi(argv[i + 1]);
    } else if (f == "--group") {
      group = std::atoi(argv[i + 1]);
    } else if (f == "--head-dim") {
      hd = std::atoi(argv[i + 1]);
    } else if (f == "--reps") {
      reps = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  if (pp < 1 || kv_heads < 1 || group < 1 || hd < 1 || reps < 1) {
    std::fprintf(stderr, "flags must be >= 1\n");
    return 2;
  }
  const int max_p = *std::max_element(positions.begin(), positions.end());
  Layer L{kv_heads, group, hd, int64_t(max_p) + pp, {}, {}};
  uint32_t x = 1;
  auto rnd = [&x] {
    x = x * 1664525u + 1013904223u;
    return float(int32_t(x >> 8) % 2001 - 1000) / 1000.0f;
  };
  L.k.resize(size_t(kv_heads) * L.slots * hd);
  L.v.resize(L.k.size());
  for (auto& e : L.k) e = F32ToF16(rnd());
  for (auto& e : L.v) e = F32ToF16(2.0f * rnd());
  const int H = kv_heads * group;
  std::vector<float> q(size_t(pp) * H * hd), out(q.size()), sc(size_t(L.slots));
  for (float& e : q) e = 3.0f * rnd();
  for (const int p : positions) {
    for (const char* what : {"decode", "prefill"}) {
      const bool decode = std::string(what) == "decode";
      const int p0 = decode ? p - 1 : p, n_tok = decode ? 1 : pp;
      double med[2];
      for (int tiled = 0; tiled < 2; ++tiled) {
        std::vector<double> ts;
        RunLayer(L, tiled, p0, n_tok, q, out, sc);  // warm-up
        for (int r = 0; r < reps; ++r) ts.push_back(RunLayer(L, tiled, p0, n_tok, q, out, sc));
        std::sort(ts.begin(), ts.end());
        med[tiled] = ts[ts.size() / 2];
        std::printf(
            "{\"case\": \"%s\", \"positions\": %d, \"n_tok\": %d, \"path\": \"%s\", "
            "\"us_per_layer\": %.1f%s}\n",
            what, p, n_tok, tiled ? "tiled" : "naive", med[tiled] * 1e6,
            tiled ? (", \"speedup\": " + std::to_string(med[0] / med[1])).c_str() : "");
      }
    }
  }
  return 0;
}
