#include "model_info.h"

#include <algorithm>

namespace shoal::cli {

ModelCosts EstimateCosts(const gguf::File& file, int64_t n_ctx) {
  const gguf::Metadata& md = file.metadata();
  ModelCosts c;
  c.weight_bytes = file.tensor_data_bytes();
  const std::string arch = md.GetStringOr("general.architecture", "");
  const std::string p = arch + ".";
  c.n_ctx = n_ctx > 0 ? n_ctx : static_cast<int64_t>(md.GetUintOr(p + "context_length", 4096));
  const uint64_t n_layer = md.GetUintOr(p + "block_count", 0);
  const uint64_t n_embd = md.GetUintOr(p + "embedding_length", 0);
  const uint64_t n_head = md.GetUintOr(p + "attention.head_count", 0);
  const uint64_t n_ff = md.GetUintOr(p + "feed_forward_length", 0);
  uint64_t n_vocab = md.GetUintOr(p + "vocab_size", 0);
  if (n_vocab == 0) {
    if (const gguf::Value* toks = md.Find("tokenizer.ggml.tokens")) {
      if (const auto* a = std::get_if<gguf::Array>(&toks->v)) n_vocab = a->items.size();
    }
  }
  if (arch.empty() || n_layer == 0 || n_embd == 0 || n_head == 0) {
    c.kv_note = "metadata lacks " +
                (arch.empty() ? std::string("general.architecture")
                              : p + "block_count / embedding_length / " + "attention.head_count");
    c.memory_bytes = c.weight_bytes;
    return c;
  }
  const uint64_t n_head_kv = md.GetUintOr(p + "attention.head_count_kv", n_head);
  const uint64_t head_dim = n_embd / n_head;
  const uint64_t k_dim = md.GetUintOr(p + "attention.key_length", head_dim);
  const uint64_t v_dim = md.GetUintOr(p + "attention.value_length", head_dim);
  constexpr uint64_t kKvElemBytes = 2;  // f16 cache
  c.kv_bytes_per_token = n_layer * n_head_kv * (k_dim + v_dim) * kKvElemBytes;
  if (const uint64_t kv_lora = md.GetUintOr(p + "attention.kv_lora_rank", 0); kv_lora > 0) {
    // MLA: key_length = kv_lora_rank + rope dims in the converter's files.
    c.kv_latent = true;
    c.kv_lora_rank = kv_lora;
    c.kv_rope_dim = md.GetUintOr(p + "rope.dimension_count", k_dim > kv_lora ? k_dim - kv_lora : 0);
    c.kv_bytes_per_token = n_layer * (kv_lora + c.kv_rope_dim) * kKvElemBytes;
  }
  c.kv_known = true;
  constexpr uint64_t kBatch = 64;
  const uint64_t ctx = static_cast<uint64_t>(std::max<int64_t>(c.n_ctx, 0));
  c.scratch_bytes = 4 * (n_vocab + kBatch * (6 * n_embd + 3 * n_ff + n_head * ctx));
  c.memory_bytes = c.weight_bytes + c.kv_bytes_per_token * ctx + c.scratch_bytes;
  return c;
}

}  // namespace shoal::cli
