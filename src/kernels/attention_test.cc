// attention.h: the tiled online-softmax attention, scalar twin and every compiled target, against
// a double-precision full-softmax reference, at 1, 17, 511 and 4097 positions, several head
// groupings (rows sharing the cache), causal-style prefix masks, block tables, and MLA's shared
// key/value rows; and a row's result does not depend on the other rows of its call.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/quant.h"
#include "kernels/test_util.h"

namespace shoal::kernels {
namespace {

using testing::ForEachTarget;
using testing::RandomFloats;

constexpr int32_t kBlock = 16;

struct Cache {
  int64_t dk, dv, ldk, ldv;
  bool shared;                 // values are the keys' first dv (MLA)
  std::vector<uint16_t> k, v;  // slots x ld
  std::vector<int32_t> table;  // empty: slot = position
};

Cache MakeCache(int64_t n_pos, int64_t dk, int64_t dv, bool shared, bool paged, uint32_t seed) {
  Cache c{dk, dv, dk, shared ? dk : dv, shared, {}, {}, {}};
  const int64_t n_blocks = (n_pos + kBlock - 1) / kBlock + 3;  // a few unused blocks
  const int64_t slots = n_blocks * kBlock;
  const auto kf = RandomFloats(slots * c.ldk, seed);
  c.k.resize(kf.size());
  for (size_t i = 0; i < kf.size(); ++i) c.k[i] = F32ToF16(kf[i]);
  if (!shared) {
    const auto vf = RandomFloats(slots * c.ldv, seed + 1);
    c.v.resize(vf.size());
    for (size_t i = 0; i < vf.size(); ++i) c.v[i] = F32ToF16(vf[i]);
  }
  if (paged) {
    c.table.resize(size_t(n_blocks));
    std::iota(c.table.begin(), c.table.end(), 0);
    std::shuffle(c.table.begin(), c.table.end(), std::mt19937(seed + 2));
  }
  return c;
}

size_t SlotOf(const Cache& c, int64_t j) {
  return c.table.empty() ? size_t(j) : size_t(c.table[j / kBlock]) * kBlock + j % kBlock;
}

// Full softmax in double over the f16 cache values.
std::vector<double> Reference(const Cache& c, const float* q, int32_t n_kv, float scale) {
  std::vector<double> out(size_t(c.dv), 0.0);
  if (n_kv == 0) return out;
  const uint16_t* V = c.shared ? c.k.data() : c.v.data();
  std::vector<double> s(static_cast<size_t>(n_kv));
  double mx = -1e300;
  for (int32_t j = 0; j < n_kv; ++j) {
    double dot = 0;
    for (int64_t d = 0; d < c.dk; ++d)
      dot += double(q[d]) * F16ToF32(c.k[SlotOf(c, j) * c.ldk + d]);
    s[size_t(j)] = dot * scale;
    mx = std::max(mx, s[size_t(j)]);
  }
  double sum = 0;
  for (double& x : s) sum += x = std::exp(x - mx);
  for (int32_t j = 0; j < n_kv; ++j) {
    for (int64_t d = 0; d < c.dv; ++d) {
      out[size_t(d)] += s[size_t(j)] / sum * F16ToF32(V[SlotOf(c, j) * c.ldv + d]);
    }
  }
  return out;
}

struct Rows {
  std::vector<float> q, out;
  std::vector<const float*> qp;
  std::vector<float*> op;
  std::vector<int32_t> n_kv;
};

// n_q rows; row i sees a prefix of the positions: the last rows n_pos, n_pos - 1, ... (the
// tokens of a prompt, in groups of `group` heads), one row with nothing when n_q > 4.
Rows MakeRows(int32_t n_q, int32_t group, int32_t n_pos, int64_t dk, int64_t dv, float q_scale,
              uint32_t seed) {
  Rows r;
  r.q = RandomFloats(int64_t(n_q) * dk, seed, q_scale);
  r.out.assign(size_t(n_q) * dv, -7.0f);
  const int32_t n_tok = (n_q + group - 1) / group;
  for (int32_t i = 0; i < n_q; ++i) {
    r.qp.push_back(r.q.data() + i * dk);
    r.op.push_back(r.out.data() + i * dv);
    r.n_kv.push_back(std::max(0, n_pos - (n_tok - 1 - i / group)));
  }
  if (n_q > 4) r.n_kv[1] = 0;
  return r;
}

AttentionArgs Args(const Cache& c, Rows& r, float scale) {
  AttentionArgs a;
  a.n_q = int32_t(r.qp.size());
  a.q = r.qp.data();
  a.out = r.op.data();
  a.n_kv = r.n_kv.data();
  a.k = c.k.data();
  a.v = c.shared ? c.k.data() : c.v.data();
  a.ldk = c.ldk;
  a.ldv = c.ldv;
  a.table = c.table.empty() ? nullptr : c.table.data();
  a.block_tokens = kBlock;
  a.dk = c.dk;
  a.dv = c.dv;
  a.scale = scale;
  return a;
}

struct Shape {
  int64_t dk, dv;
  bool shared;
  int32_t n_q, group;
};

TEST(Attention, MatchesDoubleReference) {
  const Shape shapes[] = {
      {64, 64, false, 4, 4},    // GQA 4 heads per KV head, one token (decode)
      {64, 64, false, 24, 4},   // 6 tokens x 4 heads (prefill; crosses kAttentionRows)
      {128, 128, false, 8, 8},  // 8 heads per KV head
      {72, 40, false, 3, 1},    // widths off the vector size, one head per KV head
      {96, 64, true, 17, 17},   // MLA: values are the keys' first 64 (17 heads)
  };
  const int32_t positions[] = {1, 17, 511, 4097};
  uint32_t seed = 10;
  for (const Shape& sh : shapes) {
    for (int32_t n_pos : positions) {
      for (bool paged : {false, true}) {
        for (float q_scale : {1.0f, 6.0f}) {  // 6: a sharp softmax
          ++seed;
          const Cache c = MakeCache(n_pos, sh.dk, sh.dv, sh.shared, paged, seed);
          Rows r = MakeRows(sh.n_q, sh.group, n_pos, sh.dk, sh.dv, q_scale, seed + 100);
          const float scale = 1.0f / std::sqrt(float(sh.dk));
          std::vector<std::vector<double>> want;
          for (int32_t i = 0; i < sh.n_q; ++i)
            want.push_back(Reference(c, r.qp[i], r.n_kv[i], scale));
          const std::string what = "dk=" + std::to_string(sh.dk) +
                                   " n_q=" + std::to_string(sh.n_q) +
                                   " n_pos=" + std::to_string(n_pos) + (paged ? " paged" : "") +
                                   " q_scale=" + std::to_string(q_scale);
          auto check = [&](const std::string& who) {
            for (int32_t i = 0; i < sh.n_q; ++i) {
              for (int64_t d = 0; d < sh.dv; ++d) {
                ASSERT_NEAR(r.op[i][d], want[i][d], 2e-5)
                    << who << " " << what << " row " << i << " d " << d;
              }
            }
          };
          AttentionArgs a = Args(c, r, scale);
          scalar::Attention(a);
          check("scalar");
          const std::vector<float> twin = r.out;
          ForEachTarget([&](const std::string& target) {
            std::fill(r.out.begin(), r.out.end(), -7.0f);
            Attention(a);
            check(target);
            for (size_t i = 0; i < twin.size(); ++i) {
              ASSERT_NEAR(r.out[i], twin[i], 2e-5) << target << " vs scalar " << what;
            }
          });
        }
      }
    }
  }
}

// Each row computed alone gives the same bits as in a call with other rows (the batch
// invariance Session::Step relies on), on every target and in the scalar twin.
TEST(Attention, RowDoesNotDependOnItsNeighbours) {
  const int32_t n_pos = 300;
  const Cache c = MakeCache(n_pos, 64, 64, false, true, 7);
  Rows r = MakeRows(20, 4, n_pos, 64, 64, 2.0f, 8);
  const float scale = 0.125f;
  auto run = [&](auto fn) {
    AttentionArgs all = Args(c, r, scale);
    fn(all);
    const std::vector<float> together = r.out;
    for (int32_t i = 0; i < all.n_q; ++i) {
      std::vector<float> alone(64, -1.0f);
      float* o = alone.data();
      AttentionArgs one = all;
      one.n_q = 1;
      one.q = &r.qp[size_t(i)];
      one.out = &o;
      one.n_kv = &r.n_kv[size_t(i)];
      fn(one);
      ASSERT_EQ(0, std::memcmp(alone.data(), together.data() + i * 64, 64 * sizeof(float)))
          << "row " << i;
    }
  };
  run([](const AttentionArgs& a) { scalar::Attention(a); });
  ForEachTarget([&](const std::string& target) {
    SCOPED_TRACE(target);
    run([](const AttentionArgs& a) { Attention(a); });
  });
}

TEST(Attention, EmptyRowsGiveZeros) {
  const Cache c = MakeCache(5, 64, 64, false, false, 3);
  Rows r = MakeRows(2, 1, 5, 64, 64, 1.0f, 4);
  r.n_kv = {0, 0};
  AttentionArgs a = Args(c, r, 0.125f);
  Attention(a);
  for (float x : r.out) EXPECT_EQ(x, 0.0f);
}

// The scores of a vector's width of positions at once (x86 AVX2 / AVX3: one transposed
// reduction for 8 or 16 positions) equal the per-position reduction bit for bit on every target:
// head widths with and without the fast path (64, 128; 72 is not a multiple of 16), position
// counts around the widths, values spanning several magnitudes (so a changed summation order
// would show).
TEST(Attention, WideScoresBitIdenticalToPerPosition) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t dk : {64, 128, 72}) {
    for (int64_t n : {1, 7, 8, 9, 16, 17, 33, 100}) {
      std::vector<float> q(dk), k(n * dk);
      for (int64_t i = 0; i < dk; ++i) q[i] = u(rng) * std::ldexp(1.0f, int(i % 13) - 6);
      for (auto& x : k) x = u(rng) * std::ldexp(1.0f, int(rng() % 17) - 8);
      ForEachTarget([&](const std::string& target) {
        std::vector<float> wide(n, -1.0f), ref(n, -2.0f);
        internal::AttentionScores(q.data(), k.data(), dk, n, 0.125f, wide.data(), false);
        internal::AttentionScores(q.data(), k.data(), dk, n, 0.125f, ref.data(), true);
        for (int64_t j = 0; j < n; ++j) {
          ASSERT_EQ(wide[j], ref[j]) << target << " dk " << dk << " n " << n << " j " << j;
          double want = 0, mag = 0;
          for (int64_t i = 0; i < dk; ++i) {
            want += double(q[i]) * k[j * dk + i];
            mag += std::fabs(double(q[i]) * k[j * dk + i]);
          }
          ASSERT_NEAR(wide[j], 0.125 * want, 0.125 * 1e-6 * mag) << target;
        }
      });
    }
  }
}

}  // namespace
}  // namespace shoal::kernels
