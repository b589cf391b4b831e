#include "runtime/mla.h"

#include <algorithm>
#include <cstring>

#include "kernels/ops.h"
#include "runtime/attention.h"
#include "runtime/kv_cache.h"

namespace shoal::runtime {

using internal::MatMulRows;
using internal::Rows;

MlaAttention::MlaAttention(const model::ModelConfig& c, int32_t n_head, int32_t max_tokens,
                           int n_threads, int32_t n_ctx)
    : c_(c), n_head_(n_head) {
  const size_t B = size_t(max_tokens), H = size_t(n_head);
  const size_t R = size_t(c.kv_lora_rank + c.rope_dim);
  qa_.resize(B * size_t(std::max(c.q_lora_rank, 1)));
  kva_.resize(B * R);
  q_.resize(B * H * size_t(c.mla_k_dim));
  qc_.resize(B * H * R);
  lat_.resize(B * H * size_t(c.kv_lora_rank));
  scores_.resize(size_t(n_threads), std::vector<float>(size_t(n_ctx)));
  head_act_.resize(size_t(n_threads));
}

void MlaAttention::Forward(ThreadPool& pool, const model::LayerWeights& L, const model::Rope& rope,
                           const float* cos, const float* sin, const float* xn, int32_t n_tok,
                           const int32_t* pos, const int32_t* const* tables, uint16_t* cache,
                           float* out) {
  const int64_t E = c_.n_embd, H = n_head_, KVL = c_.kv_lora_rank, RD = c_.rope_dim;
  const int64_t R = KVL + RD, KQ = c_.mla_k_dim, NOPE = KQ - RD, VD = c_.mla_v_dim;
  const int64_t QL = c_.q_lora_rank, NQ = H * KQ;
  const int32_t n_pairs = rope.n_pairs();
  const bool lora = QL > 0;
  const model::MatrixWeight& wq = lora ? L.wq_a : L.wq;

  // 1: conversion of the normalized input.
  xin_.Prepare({&wq, &L.wkv_a}, E, n_tok);
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    xin_.Convert(xn, E, b, e);
  });
  // 2: q_a (or q) and kv_a.
  float* qdst = lora ? qa_.data() : q_.data();
  const int64_t qrows = lora ? QL : NQ;
  pool.Run([&](int ti, int nt) {
    int64_t r0, r1;
    ThreadPool::Chunk(qrows, 16, ti, nt, &r0, &r1);
    MatMulRows(wq, xin_.For(wq), n_tok, qdst, qrows, r0, r1);
    ThreadPool::Chunk(R, 16, ti, nt, &r0, &r1);
    MatMulRows(L.wkv_a, xin_.For(L.wkv_a), n_tok, kva_.data(), R, r0, r1);
  });
  // 3: q_a norm + conversion; latent norm, key rope, cache store.
  if (lora) qa_act_.Prepare({&L.wq_b}, QL, n_tok);
  pool.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    for (int64_t t = b; t < e; ++t) {
      if (lora) {
        float* qa = qa_.data() + t * QL;
        kernels::RmsNorm(qa, L.q_a_norm.data(), c_.rms_eps, qa, QL);
      }
      float* kv = kva_.data() + t * R;
      kernels::RmsNorm(kv, L.kv_a_norm.data(), c_.rms_eps, kv, KVL);
      rope.Apply(kv + KVL, cos + t * n_pairs, sin + t * n_pairs);
      kernels::F32ToF16Row(kv, cache + SlotOf(tables[t], pos[t]) * size_t(R), R);
    }
    if (lora && b < e) qa_act_.Convert(qa_.data(), QL, b, e);
  });
  // 4: per head: q_b rows, rope of q_pe, absorption of q_nope through attn_k_b.
  pool.Run([&](int ti, int nt) {
    int64_t h0, h1;
    ThreadPool::Chunk(H, 1, ti, nt, &h0, &h1);
    internal::ActBuffers& act = head_act_[size_t(ti)];
    for (int64_t h = h0; h < h1; ++h) {
      if (lora) MatMulRows(L.wq_b, qa_act_.For(L.wq_b), n_tok, q_.data(), NQ, h * KQ, h * KQ + KQ);
      const model::MatrixWeight kb = Rows(L.wk_b, h * KVL, h * KVL + KVL);
      act.Prepare({&kb}, NOPE, n_tok);
      for (int64_t t = 0; t < n_tok; ++t) {
        float* qh = q_.data() + t * NQ + h * KQ;
        rope.Apply(qh + NOPE, cos + t * n_pairs, sin + t * n_pairs);
        std::memcpy(qc_.data() + (t * H + h) * R + KVL, qh + NOPE, size_t(RD) * sizeof(float));
      }
      act.Convert(q_.data() + h * KQ, NQ, 0, n_tok);
      MatMulRows(kb, act.For(kb), n_tok, qc_.data() + h * R, H * R, 0, KVL);
    }
  });
  // 5: attention over the cached latents: tiled, every head's rows reading the one latent cache
  // together (runtime/attention.h; the values are the keys' first kv_lora_rank), or the naive
  // loop, one (token, head) per item.
  if (GetAttentionPath() == AttentionPath::kTiled) {
    internal::AttentionPhase ap;
    ap.n_tok = n_tok, ap.pos = pos, ap.tables = tables;
    ap.q = qc_.data(), ap.q_tok = H * R, ap.q_head = R;
    ap.out = lat_.data(), ap.o_tok = H * KVL, ap.o_head = KVL;
    ap.groups.push_back({0, int32_t(H), cache, cache});
    ap.ldk = ap.ldv = ap.dk = R, ap.dv = KVL, ap.scale = c_.attn_scale;
    internal::RunTiledAttention(pool, ap);
  } else {
    NaiveAttention(pool, n_tok, pos, tables, cache);
  }
  // 6: per head: the value up-projection attn_v_b of its weighted latent.
  pool.Run([&](int ti, int nt) {
    int64_t h0, h1;
    ThreadPool::Chunk(H, 1, ti, nt, &h0, &h1);
    internal::ActBuffers& act = head_act_[size_t(ti)];
    for (int64_t h = h0; h < h1; ++h) {
      const model::MatrixWeight vb = Rows(L.wv_b, h * VD, h * VD + VD);
      act.Prepare({&vb}, KVL, n_tok);
      act.Convert(lat_.data() + h * KVL, H * KVL, 0, n_tok);
      MatMulRows(vb, act.For(vb), n_tok, out + h * VD, H * VD, 0, VD);
    }
  });
}

void MlaAttention::NaiveAttention(ThreadPool& pool, int32_t n_tok, const int32_t* pos,
                                  const int32_t* const* tables, const uint16_t* cache) {
  const int64_t H = n_head_, KVL = c_.kv_lora_rank, R = KVL + c_.rope_dim;
  pool.Run([&](int ti, int nt) {
    int64_t i0, i1;
    ThreadPool::Chunk(int64_t(n_tok) * H, 1, ti, nt, &i0, &i1);
    float* sc = scores_[size_t(ti)].data();
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / H;
      const float* q = qc_.data() + i * R;
      const int32_t n_kv = pos[t] + 1;
      const int32_t* table = tables[t];
      for (int32_t j = 0; j < n_kv; ++j) {
        sc[j] = kernels::DotF16(cache + SlotOf(table, j) * size_t(R), q, R) * c_.attn_scale;
      }
      kernels::SoftmaxInPlace(sc, n_kv);
      float* o = lat_.data() + i * KVL;
      std::memset(o, 0, size_t(KVL) * sizeof(float));
      for (int32_t j = 0; j < n_kv; ++j) {
        kernels::AxpyF16(sc[j], cache + SlotOf(table, j) * size_t(R), o, KVL);
      }
    }
  });
}

}  // namespace shoal::runtime
