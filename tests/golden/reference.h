// A plain double-precision forward pass for llama / qwen2 / qwen3 GGUF models, written from the
// math for clarity, not speed, and independent of shoal's model and runtime code. It reads the
// weights through kernels::scalar::DequantizeRow (so a quantized file is evaluated exactly as its
// dequantized values say) and computes every position of a token sequence from scratch:
//
//   x = token_embd[tok]
//   per layer:  h = RMSNorm(x) * attn_norm
//               q = Wq h (+bq), k = Wk h (+bk), v = Wv h (+bv)      [qwen2 has the biases]
//               q, k per head: RMSNorm * attn_q_norm / attn_k_norm    [qwen3]
//               rope(q, k, pos): llama rotates adjacent pairs (2i, 2i+1), qwen the halves
//                 (i, i + d/2); angle pos * base^(-2i/d) / rope_freqs[i] (1 without the tensor)
//               a = softmax(q k^T / sqrt(d), causal) v, kv head = head / (n_head / n_head_kv)
//               x += Wo a
//               h = RMSNorm(x) * ffn_norm;  x += Wdown (silu(Wgate h) * (Wup h))
//   logits = Wout (RMSNorm(x) * output_norm), Wout = output, or token_embd when absent (tied)
//
// qwen3moe and deepseek2 replace the FFN of their MoE layers by
//   s = softmax or sigmoid(router h);  choose the k largest s + exp_probs_b (only within the best
//   expert groups, a group's score being the sum of its two largest); w = s[chosen] (divided by
//   their sum when normalized, times expert_weights_scale);  x += sum w_j expert_j(h) + shared(h)
// and deepseek2 uses multi-head latent attention, here in the plain (non-absorbed) form: every
// cached latent c_j is expanded to per-head keys [K_up,h c_j | k_pe_j] and values V_up,h c_j, as
// the paper writes it (shoal decodes in the absorbed form: an independent check).
// YaRN rope: per pair, the angle blends pos*theta_i (extrapolation) and pos*theta_i/factor
// (interpolation) by a linear ramp between the pairs of beta_fast and beta_slow turns over the
// original context; cos/sin and the deepseek2 score scale carry the YaRN attention factors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"

namespace shoal::golden {

// A matrix as GGUF stores it: `rows` rows of `cols` (= ne[0], the input dim) values.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> w;  // [rows][cols]
  const double* row(int64_t r) const { return w.data() + r * cols; }
};

struct RefLayer {
  std::vector<double> attn_norm, ffn_norm;  // [n_embd]
  Mat wq, wk, wv, wo;              // [n_head*hd][n_embd], [n_kv*hd][n_embd] x2, [n_embd][n_head*hd]
  std::vector<double> bq, bk, bv;  // [n_head*hd], [n_kv*hd] x2, or empty
  std::vector<double> q_norm, k_norm;  // [hd], or empty
  Mat gate, up, down;                  // [n_ff][n_embd] x2, [n_embd][n_ff]
  // Mixture of experts (router.rows > 0).
  Mat router;                                   // [n_expert][n_embd]
  std::vector<double> probs_b;                  // [n_expert] or empty
  std::vector<Mat> exp_gate, exp_up, exp_down;  // per expert, like gate / up / down
  Mat sh_gate, sh_up, sh_down;                  // shared experts, or empty
  // MLA (deepseek2).
  Mat wq_a, wq_b, wkv_a;                    // [q_lora][n_embd], [n_head*kq][q_lora], ...
  std::vector<double> q_a_norm, kv_a_norm;  // [q_lora], [kv_lora]
  std::vector<Mat> k_up, v_up;              // per head: [qk_nope][kv_lora], [v][kv_lora]
};

class RefModel {
 public:
  static StatusOr<RefModel> Load(const gguf::File& file);

  // Logits of every position: [tokens.size()][n_vocab]. kv_f16: round K (after rope) and V to
  // f16 before attention uses them, as a KV cache stored in f16 does (shoal's and llama.cpp's
  // default); everything else stays double.
  // route_margin (MoE models): per position, the smallest gap over the MoE layers between the
  // last chosen and the best unchosen expert's selection score (and between the last chosen and
  // the best unchosen group's score), divided by the standard deviation of the scores over the
  // experts. A routing decision can flip when the activations' error exceeds it.
  std::vector<std::vector<double>> Forward(const std::vector<int32_t>& tokens, bool kv_f16 = false,
                                           std::vector<double>* route_margin = nullptr) const;

  int64_t n_vocab() const { return n_vocab_; }
  const std::string& arch() const { return arch_; }

 private:
  Status LoadRopeScaling(const gguf::Metadata& md);
  Status LoadArchKeys(const gguf::Metadata& md);
  Status LoadMoe(const gguf::File& f, const std::string& p, RefLayer* L);
  Status LoadMla(const gguf::File& f, const std::string& p, RefLayer* L);
  std::vector<double> MoeFfn(const RefLayer& L, const std::vector<double>& h, double* margin) const;
  // x[t] += the MLA block's output for every position (non-absorbed).
  void MlaAttention(const RefLayer& L, std::vector<std::vector<double>>* x, bool kv_f16) const;
  // Rotates n values (pairs per the rope style) of v for position pos, YaRN as configured.
  void Rope(double* v, int64_t n, int64_t pos) const;

  std::string arch_;
  bool neox_ = false;  // rope on halves (qwen) instead of adjacent pairs (llama)
  // YaRN (factor 0: none): factor, original context, betas, the cos/sin factor.
  double yarn_factor_ = 0, yarn_orig_ctx_ = 0, yarn_beta_fast_ = 32, yarn_beta_slow_ = 1;
  double rope_mscale_ = 1;
  int64_t rope_dim_ = 0;
  // MoE.
  int64_t n_expert_ = 0, n_expert_used_ = 0, n_groups_ = 0, n_groups_used_ = 0;
  bool sigmoid_ = false, norm_w_ = false;
  double w_scale_ = 0;
  // MLA.
  bool mla_ = false;
  int64_t q_lora_ = 0, kv_lora_ = 0, qk_nope_ = 0, v_dim_ = 0;
  double kq_scale_ = 0;
  int64_t n_embd_ = 0, n_layer_ = 0, n_head_ = 0, n_head_kv_ = 0, head_dim_ = 0, n_ff_ = 0;
  int64_t n_vocab_ = 0;
  double eps_ = 1e-5, freq_base_ = 10000;
  std::vector<double> rope_freqs_;  // [head_dim/2] divisors, or empty
  Mat embd_;                        // [n_vocab][n_embd]
  std::vector<RefLayer> layers_;
  std::vector<double> output_norm_;  // [n_embd]
  Mat output_;                       // [n_vocab][n_embd]; empty when tied
};

}  // namespace shoal::golden
