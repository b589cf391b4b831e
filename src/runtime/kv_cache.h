// The key/value cache of one sequence, in f16, for the layers and KV heads of one shard. Layout,
// per layer and KV head, positions contiguous: k[layer][kv_head][pos][head_dim_k],
// v[layer][kv_head][pos][head_dim_v], so one thread attending with one head reads one contiguous
// block. Layers and heads are indexed locally (0 = the shard's first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/shard.h"

namespace shoal::runtime {

class KvCache {
 public:
  KvCache(const model::ModelConfig& cfg, const model::Shard& shard, int32_t n_ctx);

  int32_t n_ctx() const { return n_ctx_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(uint16_t); }
  // The rows of local head `h` of local layer `l`: n_ctx rows of head_dim f16 values.
  uint16_t* k(int32_t l, int32_t h) { return k_.data() + (size_t(l) * n_head_kv_ + h) * k_head_; }
  uint16_t* v(int32_t l, int32_t h) { return v_.data() + (size_t(l) * n_head_kv_ + h) * v_head_; }
  const uint16_t* k(int32_t l, int32_t h) const {
    return k_.data() + (size_t(l) * n_head_kv_ + h) * k_head_;
  }
  const uint16_t* v(int32_t l, int32_t h) const {
    return v_.data() + (size_t(l) * n_head_kv_ + h) * v_head_;
  }

 private:
  int32_t n_ctx_;
  int32_t n_head_kv_;
  size_t k_head_;  // n_ctx * head_dim_k values
  size_t v_head_;  // n_ctx * head_dim_v values
  std::vector<uint16_t> k_, v_;
};

}  // namespace shoal::runtime
