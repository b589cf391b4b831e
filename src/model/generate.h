// Random-weight model files for tests and benchmarks: a GGUF laid out exactly as llama.cpp's
// converter (convert_hf_to_gguf.py) and llama-quantize lay out llama / qwen2 / qwen3 models, with
// weights drawn deterministically from a seed and scaled so activations stay O(1) through the
// layers (logits are neither constant nor saturated).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "tensor/dtype.h"

namespace shoal::model {

struct GenSpec {
  std::string arch = "llama";  // llama | qwen2 | qwen3 | qwen3moe | deepseek2
  int32_t n_vocab = 0;         // 0: the size of the built-in vocabulary (or of `tokenizer`)
  int32_t n_embd = 256;
  int32_t n_layer = 2;
  int32_t n_head = 4;
  int32_t n_head_kv = 2;
  int32_t n_ff = 512;
  int32_t n_ctx = 2048;
  int32_t head_dim = 0;      // 0: n_embd / n_head
  DType type = DType::kF16;  // 2D weight matrices incl. token_embd; norms/biases stay f32
  // "" or "q4_k_m": q4_K mostly, q6_K for output (or a tied token_embd), attn_v and the
  // llama-quantize "use_more_bits" half of ffn_down. `type` is ignored when set.
  std::string mix;
  std::optional<DType> output_type;  // output.weight (token_embd when tied)
  // Routed experts (ffn_*_exps) in this type instead of `type`, as the "dynamic" DeepSeek / Kimi
  // files keep the experts in a 2-bit i-quant and the rest in K-quants. MoE architectures only.
  std::optional<DType> expert_type;
  bool tied_output = false;  // no output.weight: logits use token_embd
  uint64_t seed = 1;
  float rope_freq_base = 10000;
  float rms_eps = 0;  // 0: the arch's usual value (llama 1e-5, qwen 1e-6)
  // Llama 3.1 "llama3" rope scaling (factor 8, low 1, high 4, original context 8192). As
  // llama.cpp's converter does, this writes only the rope_freqs.weight tensor (head_dim/2
  // frequency divisors); Llama 3.1 GGUFs carry no rope.scaling.* keys for it.
  bool llama3_rope_scaling = false;

  // Mixture of experts (qwen3moe, deepseek2): expert_count, expert_used_count,
  // expert_feed_forward_length. qwen3moe routes by softmax and always renormalizes.
  int32_t n_expert = 8;
  int32_t n_expert_used = 2;
  int32_t n_ff_exp = 256;
  // deepseek2 only: shared experts (ffn_*_shexp of n_ff_exp * n_expert_shared), leading dense
  // layers (n_ff), expert groups (0: none), sigmoid scores (expert_gating_func 2; else softmax),
  // the exp_probs_b selection bias, expert_weights_norm, expert_weights_scale (0: not written).
  int32_t n_expert_shared = 1;
  int32_t n_layer_dense_lead = 1;
  int32_t n_expert_groups = 0;
  int32_t n_group_used = 0;
  bool expert_sigmoid = true;
  bool exp_probs_b = true;
  bool expert_weights_norm = true;
  float expert_weights_scale = 2.5f;
  // deepseek2 MLA: q_lora_rank (0: attn_q instead of attn_q_a / attn_q_b), kv_lora_rank, the
  // per-head no-rope / rope key sizes and the value size (the head_dim / n_head_kv fields are
  // not used). legacy_kv_b: one attn_kv_b per layer (older converters) instead of k_b / v_b.
  int32_t q_lora_rank = 128;
  int32_t kv_lora_rank = 64;
  int32_t qk_nope_dim = 32;
  int32_t qk_rope_dim = 32;
  int32_t v_head_dim = 32;
  bool legacy_kv_b = false;
  // Experts' gate and up fused into ffn_gate_up_exps (convert_hf_to_gguf.py --fuse-gate-up-exps).
  bool fuse_gate_up_exps = false;
  // YaRN rope scaling (deepseek2): factor (0: none), original context (0: n_ctx / factor),
  // mscale_all_dim (written as rope.scaling.yarn_log_multiplier = 0.1 * it; 0: not written).
  float yarn_factor = 0.0f;
  int32_t yarn_orig_ctx = 0;
  float yarn_mscale_all_dim = 1.0f;
  // tokenizer.* keys to copy (e.g. from SetTokenizerMetadata); null: the built-in byte-level BPE
  // vocabulary (see BuiltinTokenizerMetadata).
  const gguf::Metadata* tokenizer = nullptr;
  // Called with the tensors made so far and their number (0 first, then after each). Optional.
  std::function<void(uint64_t done, uint64_t total)> on_progress;
};

// Writes the model to `path`. Bad specs (unknown arch, shapes that do not divide, a type the
// quantizer cannot produce, a row length that is not a multiple of the type's block) return
// InvalidArgument.
Status GenerateModel(const GenSpec& spec, const std::string& path);

// The same as an in-memory writer (for tests that want the image, not a file).
Status GenerateModelWriter(const GenSpec& spec, gguf::Writer* writer);

// The built-in vocabulary: tokenizer.ggml.model "gpt2", pre "llama-bpe"; the 256 byte tokens in
// GPT-2's byte-to-unicode form, merges that build common English words (so text needs fewer
// tokens than bytes), then <|begin_of_text|> (bos), <|end_of_text|> (eos), <|eot_id|> (eot), padded
// with <|reserved_N|> control tokens up to n_vocab. n_vocab 0: no padding. A smaller n_vocab
// drops merges (it must leave room for the bytes and the three control tokens).
StatusOr<gguf::Metadata> BuiltinTokenizerMetadata(int32_t n_vocab);

// The Llama 3.1 rope frequency divisors (factor 8, low_freq_factor 1, high_freq_factor 4, original
// context 8192) for a head of head_dim, as the converter computes them: head_dim/2 values.
std::vector<float> Llama3RopeFactors(float freq_base, int32_t head_dim);

}  // namespace shoal::model
