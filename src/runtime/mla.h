// Multi-head latent attention (deepseek2) in the absorbed form, for Session's forward pass. The
// KV cache holds per token only [c | k_pe] (kv_lora_rank + rope_dim f16 values, the latent
// layout of KvCache); each head's query is moved into the latent space instead of each cached
// token out of it:
//   q_h    = [q_nope | rope(q_pe)]                      (attn_q_b · norm(attn_q_a · n), or attn_q)
//   qc_h   = [attn_k_b[h] · q_nope | rope(q_pe)]         kv_lora_rank + rope_dim values
//   p_h    = softmax_j(qc_h · cache_j · attn_scale)      (= q_h · k_h,j: attn_k_b is linear)
//   out_h  = attn_v_b[h] · sum_j p_h,j c_j               mla_v_dim values
// Phases (one ThreadPool::Run each): conversion (by token); attn_q_a / attn_q and attn_kv_a_mqa
// (by rows); q_a norm, kv norm, rope, cache store (by token); q_b, rope, absorption (by head);
// attention (by (token, head)); attn_v_b (by head). Bit-identical for any thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/model.h"
#include "model/rope.h"
#include "runtime/layer_util.h"

namespace shoal::runtime {

class MlaAttention {
 public:
  // n_head: the heads this rank holds (Shard::heads; tensor parallel splits MLA by head, every
  // rank keeps the whole latent cache).
  MlaAttention(const model::ModelConfig& c, int32_t n_head, int32_t max_tokens, int n_threads,
               int32_t n_ctx);
  // out[t] = this rank's heads' attention outputs [n_head * mla_v_dim] of xn[t]
  // (attention-normalized input [n_tok][n_embd]) at position pos[t] of the sequence with block
  // table tables[t] (nullptr: slot = position, kv_cache.h); stores the tokens' latents in `cache`
  // (rows of kv_lora_rank + rope_dim per slot). cos/sin: [n_tok][rope_dim / 2] angles.
  void Forward(ThreadPool& pool, const model::LayerWeights& L, const model::Rope& rope,
               const float* cos, const float* sin, const float* xn, int32_t n_tok,
               const int32_t* pos, const int32_t* const* tables, uint16_t* cache, float* out);

 private:
  // Phase 5 as it was before the tiled kernel (AttentionPath::kNaive): per (token, head), every
  // score, a full softmax, then the values.
  void NaiveAttention(ThreadPool& pool, int32_t n_tok, const int32_t* pos,
                      const int32_t* const* tables, const uint16_t* cache);
  const model::ModelConfig& c_;
  int32_t n_head_;
  std::vector<float> qa_;   // [n_tok][q_lora_rank]
  std::vector<float> kva_;  // [n_tok][kv_lora_rank + rope_dim]
  std::vector<float> q_;    // [n_tok][n_head * mla_k_dim]
  std::vector<float> qc_;   // [n_tok][n_head][kv_lora_rank + rope_dim]
  std::vector<float> lat_;  // [n_tok][n_head][kv_lora_rank] attention-weighted latents
  std::vector<std::vector<float>> scores_;      // per thread: [n_ctx]
  std::vector<internal::ActBuffers> head_act_;  // per thread: a head's input, converted
  internal::ActBuffers xin_;                    // xn for attn_q_a / attn_q and attn_kv_a_mqa
  internal::ActBuffers qa_act_;                 // normalized qa for attn_q_b
};

}  // namespace shoal::runtime
