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
};

class RefModel {
 public:
  static StatusOr<RefModel> Load(const gguf::File& file);

  // Logits of every position: [tokens.size()][n_vocab]. kv_f16: round K (after rope) and V to
  // f16 before attention uses them, as a KV cache stored in f16 does (shoal's and llama.cpp's
  // default); everything else stays double.
  std::vector<std::vector<double>> Forward(const std::vector<int32_t>& tokens,
                                           bool kv_f16 = false) const;

  int64_t n_vocab() const { return n_vocab_; }
  const std::string& arch() const { return arch_; }

 private:
  std::string arch_;
  bool neox_ = false;  // rope on halves (qwen) instead of adjacent pairs (llama)
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
