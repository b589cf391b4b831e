// What a model costs to run, from its GGUF metadata alone (no weights are read): weight bytes,
// KV cache bytes per token, memory at a context length.
#pragma once

#include <cstdint>
#include <string>

#include "format/gguf.h"

namespace shoal::cli {

struct ModelCosts {
  uint64_t weight_bytes = 0;        // all tensor data
  int64_t n_ctx = 0;                // the context the memory figure is for
  bool kv_known = false;            // false when the metadata lacks the attention shape
  std::string kv_note;              // why not known
  uint64_t kv_bytes_per_token = 0;  // K and V (MLA: latent + rope key), every layer, f16
  // MLA (attention.kv_lora_rank present): the cache holds kv_lora_rank + rope_dim values per
  // layer and token, shared by all heads (runtime/kv_cache.h's latent layout).
  bool kv_latent = false;
  uint64_t kv_lora_rank = 0, kv_rope_dim = 0;
  uint64_t scratch_bytes = 0;  // activations and logits for a 64-token batch (estimate)
  uint64_t memory_bytes = 0;   // weights + KV(n_ctx) + scratch
};

// n_ctx <= 0: the model's training context ({arch}.context_length), else 4096.
ModelCosts EstimateCosts(const gguf::File& file, int64_t n_ctx);

}  // namespace shoal::cli
