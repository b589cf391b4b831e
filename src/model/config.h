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

  int32_t n_embd_q() const { return n_head * head_dim_k; }
  int32_t n_embd_k() const { return n_head_kv * head_dim_k; }
  int32_t n_embd_v() const { return n_head_kv * head_dim_v; }
  // Bytes of an f16 KV cache holding n_ctx positions of every layer.
  uint64_t KvCacheBytes(int32_t n_ctx) const;
  std::string ToString() const;  // one line per field, for `shoal inspect` and logs
};

// Reads the configuration of the architecture named by general.architecture (which must be
// registered). Tensor-dependent fields (tied_output, has_rope_freqs) are set by the caller that has
// the tensor list: ParseConfig(md, &file) does it when `file` is given.
StatusOr<ModelConfig> ParseConfig(const gguf::Metadata& md, const gguf::File* file = nullptr);

}  // namespace shoal::model
