#include "runtime/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"

namespace shoal::runtime {

using internal::MatMulRows;
using internal::Rows;

namespace {
constexpr int64_t kRowBlock = 64;  // rows per matmul work item
}  // namespace

MoeFfn::MoeFfn(const model::ModelConfig& c, const model::Shard& shard, int32_t max_tokens)
    : c_(c),
      k_(c.n_expert_used),
      experts_(shard.experts),
      f_(shard.exp_ff.size()),
      fs_(shard.shexp.size()) {
  const size_t B = size_t(max_tokens), K = size_t(k_);
  const size_t slots = B * K + (fs_ > 0 ? B : 0);
  const size_t fw = size_t(std::max<int64_t>(f_, fs_));
  logits_.resize(B * size_t(c.n_expert));
  choice_.resize(B * K);
  weight_.resize(B * K);
  slot_.resize(B * K);
  slot_token_.resize(slots);
  hidden_.resize(slots * fw);
  up_.resize(slots * fw);
  out_.resize(slots * size_t(c.n_embd));
}

// The routing of token t from its router logits: scores, biased choice (group-limited), weights.
void MoeFfn::Route(const model::LayerWeights& L, int32_t t) {
  const int32_t ne = c_.n_expert;
  float* lg = logits_.data() + size_t(t) * ne;
  // Scores in place of the logits.
  if (c_.expert_gating == model::ExpertGating::kSigmoid) {
    for (int32_t e = 0; e < ne; ++e) lg[e] = 1.0f / (1.0f + std::exp(-lg[e]));
  } else {
    const float mx = *std::max_element(lg, lg + ne);
    float sum = 0.0f;
    for (int32_t e = 0; e < ne; ++e) sum += (lg[e] = std::exp(lg[e] - mx));
    for (int32_t e = 0; e < ne; ++e) lg[e] /= sum;
  }
  float sel[512];
  std::vector<float> sel_heap;
  float* s = sel;
  if (ne > 512) {
    sel_heap.resize(size_t(ne));
    s = sel_heap.data();
  }
  for (int32_t e = 0; e < ne; ++e) s[e] = lg[e] + (L.exp_probs_b.empty() ? 0.0f : L.exp_probs_b[e]);
  if (c_.n_expert_groups > 1) {
    // Each group's score is the sum of its two best biased scores; keep the best groups.
    const int32_t ng = c_.n_expert_groups, per = ne / ng;
    std::vector<std::pair<float, int32_t>> gs(static_cast<size_t>(ng));
    for (int32_t g = 0; g < ng; ++g) {
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int32_t i = g * per; i < (g + 1) * per; ++i) {
        if (s[i] > b1) {
          b2 = b1, b1 = s[i];
        } else if (s[i] > b2) {
          b2 = s[i];
        }
      }
      gs[size_t(g)] = {per > 1 ? b1 + b2 : b1, g};
    }
    std::stable_sort(gs.begin(), gs.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (size_t i = size_t(c_.n_group_used); i < gs.size(); ++i) {
      const int32_t g = gs[i].second;
      std::fill(s + g * per, s + (g + 1) * per, -INFINITY);
    }
  }
  // Top k by the biased score (ties: the lower id), weights from the unbiased one.
  int32_t* ch = choice_.data() + size_t(t) * k_;
  float* w = weight_.data() + size_t(t) * k_;
  for (int32_t j = 0; j < k_; ++j) {
    int32_t best = -1;
    for (int32_t e = 0; e < ne; ++e) {
      bool taken = false;
      for (int32_t i = 0; i < j; ++i) taken |= ch[i] == e;
      if (!taken && (best < 0 || s[e] > s[best])) best = e;
    }
    ch[j] = best;
    w[j] = lg[best];
  }
  if (c_.expert_weights_norm) {
    float sum = 0.0f;
    for (int32_t j = 0; j < k_; ++j) sum += w[j];
    sum = std::max(sum, 6.103515625e-5f);
    for (int32_t j = 0; j < k_; ++j) w[j] /= sum;
  }
  if (c_.expert_weights_scale != 0.0f && c_.expert_weights_scale != 1.0f) {
    for (int32_t j = 0; j < k_; ++j) w[j] *= c_.expert_weights_scale;
  }
}

void MoeFfn::Forward(ThreadPool& pool, const model::LayerWeights& L, const float* xn, int32_t n_tok,
                     float* x, bool accumulate) {
  const int64_t E = c_.n_embd, F = f_, NE = c_.n_expert, K = k_;
  const bool shared = fs_ > 0;
  const int64_t FS = fs_;
  const int64_t FW = std::max(F, FS);
  const int64_t e0 = experts_.begin;
  // Fused files (ModelConfig::fused_gate_up_exps) bind ffn_gate_up_exps as gate_exps: expert e's
  // gate rows are [2eF, (2e+1)F), its up rows [(2e+1)F, (2e+2)F).
  const bool fused = c_.fused_gate_up_exps;
  const model::MatrixWeight& gate_all = L.gate_exps;
  const model::MatrixWeight& up_all = fused ? L.gate_exps : L.up_exps;

  // 1: conversion of the input for the router, the experts and the shared experts.
  xin_.Prepare({&L.ffn_gate_inp, &gate_all, &up_all, &L.gate_shexp, &L.up_shexp}, E, n_tok);
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    xin_.Convert(xn, E, b, e);
  });
  // 2: router logits.
  pool.Run([&](int ti, int nt) {
    int64_t r0, r1;
    ThreadPool::Chunk(NE, kRowBlock, ti, nt, &r0, &r1);
    MatMulRows(L.ffn_gate_inp, xin_.For(L.ffn_gate_inp), n_tok, logits_.data(), NE, r0, r1);
  });
  // 3: routing.
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    for (int64_t t = b; t < e; ++t) Route(L, int32_t(t));
  });
  // Slots: the routed (token, j) pairs of this rank's experts ordered by expert then token, then
  // one row per token for the shared experts. One job per expert with tokens (and one for the
  // shared experts).
  const int64_t n_pairs = int64_t(n_tok) * K;
  std::vector<int64_t> count(size_t(NE) + 1, 0);
  for (int64_t i = 0; i < n_pairs; ++i) {
    if (experts_.contains(choice_[size_t(i)])) ++count[size_t(choice_[size_t(i)]) + 1];
  }
  for (int64_t e = 0; e < NE; ++e) count[size_t(e) + 1] += count[size_t(e)];
  const int64_t n_routed = count[size_t(NE)];
  const int64_t n_slots = n_routed + (shared ? n_tok : 0);
  n_local_ = n_routed;
  std::vector<int64_t> fill(count.begin(), count.end() - 1);
  for (int64_t i = 0; i < n_pairs; ++i) {
    if (!experts_.contains(choice_[size_t(i)])) {
      slot_[size_t(i)] = -1;
      continue;
    }
    const int64_t slot = fill[size_t(choice_[size_t(i)])]++;
    slot_[size_t(i)] = slot;
    slot_token_[size_t(slot)] = int32_t(i / K);
  }
  xg_.Prepare({&gate_all, &up_all}, E, n_routed);
  hq_.Prepare({&L.down_exps}, F, n_routed);
  if (shared) {
    for (int32_t t = 0; t < n_tok; ++t) slot_token_[size_t(n_routed + t)] = t;
    hqs_.Prepare({&L.down_shexp}, FS, n_tok);
  }
  jobs_.clear();
  for (int64_t e = experts_.begin; e < experts_.end; ++e) {
    const int64_t n = count[size_t(e) + 1] - count[size_t(e)];
    if (n == 0 || F == 0) continue;
    const int64_t le = e - e0;  // the expert's place in this rank's rows
    Job j;
    if (fused) {
      j.gate = Rows(gate_all, 2 * le * F, (2 * le + 1) * F);
      j.up = Rows(up_all, (2 * le + 1) * F, (2 * le + 2) * F);
    } else {
      j.gate = Rows(gate_all, le * F, (le + 1) * F);
      j.up = Rows(up_all, le * F, (le + 1) * F);
    }
    j.down = Rows(L.down_exps, le * E, (le + 1) * E);
    j.slot0 = count[size_t(e)];
    j.n = n;
    j.ff = F;
    j.xg = xg_.For(gate_all) + size_t(j.slot0) * xg_.RowBytes(gate_all);
    j.xu = xg_.For(up_all) + size_t(j.slot0) * xg_.RowBytes(up_all);
    j.xd = hq_.For(L.down_exps) + size_t(j.slot0) * hq_.RowBytes(L.down_exps);
    jobs_.push_back(j);
  }
  if (shared) {
    Job j;
    j.gate = L.gate_shexp, j.up = L.up_shexp, j.down = L.down_shexp;
    j.slot0 = n_routed, j.n = n_tok, j.ff = FS;
    j.xg = xin_.For(L.gate_shexp);
    j.xu = xin_.For(L.up_shexp);
    j.xd = hqs_.For(L.down_shexp);
    jobs_.push_back(j);
  }
  // 4: each routed slot's input row, copied from its token's converted row.
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_routed, 1, ti, nt, &b, &e);
    for (int i = 0; i < 2; ++i) {
      const model::MatrixWeight* w = i == 0 ? &gate_all : &up_all;
      if (i == 1 && xg_.For(up_all) == xg_.For(gate_all)) break;  // one activation format
      const size_t rb = xg_.RowBytes(*w);
      for (int64_t s = b; s < e; ++s) {
        std::memcpy(xg_.For(*w) + size_t(s) * rb, xin_.For(*w) + size_t(slot_token_[s]) * rb, rb);
      }
    }
  });
  // Work items of the matmul phases: (job, block of kRowBlock rows).
  auto run_blocks = [&](auto rows_of, auto fn) {
    std::vector<int64_t> first(jobs_.size() + 1, 0);
    for (size_t i = 0; i < jobs_.size(); ++i) {
      first[i + 1] = first[i] + (rows_of(jobs_[i]) + kRowBlock - 1) / kRowBlock;
    }
    pool.Run([&](int ti, int nt) {
      int64_t b, e;
      ThreadPool::Chunk(first.back(), 1, ti, nt, &b, &e);
      size_t j = 0;
      for (int64_t item = b; item < e; ++item) {
        while (first[j + 1] <= item) ++j;
        const int64_t r0 = (item - first[j]) * kRowBlock;
        fn(jobs_[j], r0, std::min(rows_of(jobs_[j]), r0 + kRowBlock));
      }
    });
  };
  // 5: gate and up, silu(gate) * up.
  run_blocks([](const Job& j) { return j.ff; },
             [&](const Job& j, int64_t r0, int64_t r1) {
               float* h = hidden_.data() + j.slot0 * FW;
               float* u = up_.data() + j.slot0 * FW;
               MatMulRows(j.gate, j.xg, j.n, h, FW, r0, r1);
               MatMulRows(j.up, j.xu, j.n, u, FW, r0, r1);
               for (int64_t t = 0; t < j.n; ++t) {
                 kernels::SiluMul(h + t * FW + r0, u + t * FW + r0, h + t * FW + r0, r1 - r0);
               }
             });
  // 6: conversion of the hidden rows for down.
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_slots, 1, ti, nt, &b, &e);
    const int64_t rb = std::min(e, n_routed), se = std::max(b, n_routed);
    if (b < rb) hq_.Convert(hidden_.data(), FW, b, rb);
    if (se < e) {
      hqs_.Convert(hidden_.data() + n_routed * FW, FW, se - n_routed, e - n_routed);
    }
  });
  // 7: down.
  run_blocks([E](const Job&) { return E; },
             [&](const Job& j, int64_t r0, int64_t r1) {
               MatMulRows(j.down, j.xd, j.n, out_.data() + j.slot0 * E, E, r0, r1);
             });
  // 8: x += (or =) the weighted experts + the shared experts, per token in a fixed order.
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    std::vector<float> acc(static_cast<size_t>(E));
    for (int64_t t = b; t < e; ++t) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < K; ++j) {
        const int64_t s = slot_[size_t(t * K + j)];
        if (s >= 0) kernels::Axpy(weight_[size_t(t * K + j)], out_.data() + s * E, acc.data(), E);
      }
      if (shared) kernels::Add(acc.data(), out_.data() + (n_routed + t) * E, acc.data(), E);
      if (accumulate) {
        kernels::Add(x + t * E, acc.data(), x + t * E, E);
      } else {
        std::copy(acc.begin(), acc.end(), x + t * E);
      }
    }
  });
}

}  // namespace shoal::runtime
