// The key/value cache, in f16, for the layers and KV heads of one shard, as n_slots token slots.
// Layout, per layer and KV head, slots contiguous: k[layer][kv_head][slot][head_dim_k],
// v[layer][kv_head][slot][head_dim_v]. Layers and heads are indexed locally (0 = the shard's
// first).
//
// Paging: the slots form blocks of kBlockTokens; a sequence's block table maps its position p
// to slot table[p / kBlockTokens] * kBlockTokens + p % kBlockTokens (SlotOf). A single sequence
// without a table uses slot = position.
//
// MLA models (ModelConfig::mla) use the latent layout instead: one row of kv_lora_rank + rope_dim
// f16 values per layer and position, [c (the normalized latent) | k_pe (the roped key)],
// latent(l) = k(l, 0); no separate values (attention reads c as its value). That is
// (kv_lora_rank + rope_dim) * 2 bytes per layer and token (DeepSeek-V3: 576 * 2 * 61 = 70 KB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/shard.h"

namespace shoal::runtime {

constexpr int32_t kBlockTokens = 16;

// The slot of position `pos` of a sequence with block table `table` (nullptr: slot = pos).
inline size_t SlotOf(const int32_t* table, int32_t pos) {
  return table == nullptr ? size_t(pos)
                          : size_t(table[pos / kBlockTokens]) * kBlockTokens + pos % kBlockTokens;
}

class KvCache {
 public:
  KvCache(const model::ModelConfig& cfg, const model::Shard& shard, int32_t n_slots);

  int32_t n_slots() const { return n_ctx_; }
  int32_t n_blocks() const { return n_ctx_ / kBlockTokens; }  // whole blocks
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(uint16_t); }
  bool latent() const { return latent_; }
  // MLA: n_slots rows of kv_values_per_layer() f16 values of local layer l.
  uint16_t* latent(int32_t l) { return k(l, 0); }
  const uint16_t* latent(int32_t l) const { return k(l, 0); }
  // The rows of local head `h` of local layer `l`: n_slots rows of head_dim f16 values.
  uint16_t* k(int32_t l, int32_t h) { return k_.data() + (size_t(l) * n_head_kv_ + h) * k_head_; }
  uint16_t* v(int32_t l, int32_t h) { return v_.data() + (size_t(l) * n_head_kv_ + h) * v_head_; }
  const uint16_t* k(int32_t l, int32_t h) const {
    return k_.data() + (size_t(l) * n_head_kv_ + h) * k_head_;
  }
  const uint16_t* v(int32_t l, int32_t h) const {
    return v_.data() + (size_t(l) * n_head_kv_ + h) * v_head_;
  }

 private:
  int32_t n_ctx_;  // slots
  bool latent_;
  int32_t n_head_kv_;
  size_t k_head_;  // n_slots * head_dim_k values
  size_t v_head_;  // n_slots * head_dim_v values
  std::vector<uint16_t> k_, v_;
};

}  // namespace shoal::runtime
