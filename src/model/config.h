// Runtime model configuration, read from GGUF metadata ("<arch>.block_count", ...). Nothing here is
// a template parameter: one binary runs every size of every registered architecture.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "format/gguf.h"

namespace shoal::model {

// Which dimensions of a head rotary position embedding pairs up.
enum class RopeStyle : uint8_t {
  kNormal,  // (2i, 2i+1): llama (its converter permutes Q/K rows into this order)
  kNeox,    // (i, i + rope_dim/2): qwen2, qwen3 (GPT-NeoX style)
};

// How a mixture-of-experts router turns its logits into expert scores
// (<arch>.expert_gating_func: 1 softmax, 2 sigmoid).
enum class ExpertGating : uint8_t {
  kSoftmax,  // qwen3moe, DeepSeek-V2
  kSigmoid,  // DeepSeek-V3 / R1, Kimi-K2
};

enum class RopeScaling : uint8_t {
  kNone,
  kLinear,  // positions divided by the factor
  kYarn,    // YaRN (NTK-by-parts + attention temperature)
  kLlama3,  // per-frequency divisors from the rope_freqs.weight tensor (Llama 3.1+)
};

struct ModelConfig {
  std::string arch;                 // general.architecture: "llama", "qwen2", "qwen3"
  int32_t n_vocab = 0;              // length of tokenizer.ggml.tokens
  int32_t n_ctx_train = 0;          // <arch>.context_length
  int32_t n_embd = 0;               // <arch>.embedding_length
  int32_t n_layer = 0;              // <arch>.block_count
  int32_t n_head = 0;               // <arch>.attention.head_count
  int32_t n_head_kv = 0;            // <arch>.attention.head_count_kv (default n_head)
  int32_t head_dim_k = 0;           // <arch>.attention.key_length (default n_embd / n_head)
  int32_t head_dim_v = 0;           // <arch>.attention.value_length (default head_dim_k)
  int32_t n_ff = 0;                 // <arch>.feed_forward_length
  float rms_eps = 1e-5f;            // <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  int32_t rope_dim = 0;             // <arch>.rope.dimension_count (default head_dim_k)
  RopeStyle rope_style = RopeStyle::kNormal;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_scaling_factor = 1.0f;   // <arch>.rope.scaling.factor
  int32_t rope_scaling_orig_ctx = 0;  // <arch>.rope.scaling.original_context_length
  float yarn_beta_fast = 32.0f;       // <arch>.rope.scaling.yarn_beta_fast
  float yarn_beta_slow = 1.0f;        // <arch>.rope.scaling.yarn_beta_slow
  float yarn_attn_factor = 1.0f;      // <arch>.rope.scaling.attn_factor
  bool has_rope_freqs = false;        // rope_freqs.weight present (sets rope_scaling kLlama3)
  bool tied_output = false;           // no output.weight: logits use token_embd.weight
  bool attn_qkv_bias = false;         // blk.N.attn_{q,k,v}.bias (qwen2)
  bool attn_out_bias = false;         // blk.N.attn_output.bias
  bool qk_norm = false;               // blk.N.attn_{q,k}_norm.weight, per-head RMSNorm (qwen3)
  // Score scale of attention; 0: 1/sqrt(head_dim_k). MLA: YaRN mscale^2 / sqrt(mla_k_dim).
  float attn_scale = 0.0f;

  // Mixture of experts (n_expert > 0): layers from n_layer_dense_lead on replace the dense FFN by
  // a router over n_expert experts of n_ff_exp columns, n_expert_used chosen per token.
  int32_t n_expert = 0;            // <arch>.expert_count
  int32_t n_expert_used = 0;       // <arch>.expert_used_count
  int32_t n_ff_exp = 0;            // <arch>.expert_feed_forward_length
  int32_t n_expert_shared = 0;     // <arch>.expert_shared_count (ffn_*_shexp: n_ff_exp * it)
  int32_t n_layer_dense_lead = 0;  // <arch>.leading_dense_block_count
  int32_t n_expert_groups = 0;     // <arch>.expert_group_count (0/1: no group-limited routing)
  int32_t n_group_used = 0;        // <arch>.expert_group_used_count
  ExpertGating expert_gating = ExpertGating::kSoftmax;  // <arch>.expert_gating_func
  bool expert_weights_norm = false;   // <arch>.expert_weights_norm: chosen weights sum to 1
  float expert_weights_scale = 0.0f;  // <arch>.expert_weights_scale (0: none)
  bool has_exp_probs_b = false;       // blk.N.exp_probs_b.bias: selection-only score bias
  // blk.N.ffn_gate_up_exps.weight (convert_hf_to_gguf.py --fuse-gate-up-exps): per expert its
  // n_ff_exp gate rows, then its n_ff_exp up rows, instead of ffn_gate_exps + ffn_up_exps.
  bool fused_gate_up_exps = false;

  // Multi-head latent attention (deepseek2; mla = kv_lora_rank > 0). Metadata: head_dim_k =
  // kv_lora_rank + rope_dim, head_dim_v = kv_lora_rank, n_head_kv = 1 (the absorbed form); the
  // per-head sizes before absorption are mla_k_dim = qk_nope + rope_dim and mla_v_dim.
  bool mla = false;
  int32_t q_lora_rank = 0;   // <arch>.attention.q_lora_rank (0: attn_q instead of q_a / q_b)
  int32_t kv_lora_rank = 0;  // <arch>.attention.kv_lora_rank
  int32_t mla_k_dim = 0;     // <arch>.attention.key_length_mla
  int32_t mla_v_dim = 0;     // <arch>.attention.value_length_mla
  bool mla_kv_b = false;     // older files: one attn_kv_b per layer instead of attn_k_b / attn_v_b
  float rope_yarn_log_mul = 0.0f;  // <arch>.rope.scaling.yarn_log_multiplier / 0.1

  int32_t n_embd_q() const { return n_head * head_dim_k; }
  int32_t n_embd_k() const { return n_head_kv * head_dim_k; }
  int32_t n_embd_v() const { return n_head_kv * head_dim_v; }
  int32_t qk_nope_dim() const { return mla_k_dim - rope_dim; }
  // Values one position keeps per layer: K and V, or the MLA latent + rope key.
  int64_t kv_values_per_layer() const {
    return mla ? int64_t(kv_lora_rank) + rope_dim : int64_t(n_embd_k()) + n_embd_v();
  }
  bool IsMoeLayer(int32_t l) const { return n_expert > 0 && l >= n_layer_dense_lead; }
  // Bytes of an f16 KV cache holding n_ctx positions of every layer.
  uint64_t KvCacheBytes(int32_t n_ctx) const;
  std::string ToString() const;  // one line per field, for `shoal inspect` and logs
};

// Reads the configuration of the architecture named by general.architecture (which must be
// registered). Tensor-dependent fields (tied_output, has_rope_freqs) are set by the caller that has
// the tensor list: ParseConfig(md, &file) does it when `file` is given.
StatusOr<ModelConfig> ParseConfig(const gguf::Metadata& md, const gguf::File* file = nullptr);

// Helpers for the architectures' parse functions (common fields already parsed):
// the mixture-of-experts keys (expert_count and expert_used_count required, > 0; the rest
// optional; n_ff_exp defaults to n_ff / n_expert_used as llama.cpp does) and their consistency;
StatusOr<bool> ParseMoeKeys(const gguf::Metadata& md, ModelConfig* c);
// the MLA keys (attention.kv_lora_rank required; q_lora_rank, key/value_length_mla optional;
// rope.scaling.yarn_log_multiplier) and the attention score scale they imply with YaRN.
Status ParseMlaKeys(const gguf::Metadata& md, ModelConfig* c);

}  // namespace shoal::model
