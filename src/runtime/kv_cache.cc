#include "runtime/kv_cache.h"

namespace shoal::runtime {

KvCache::KvCache(const model::ModelConfig& cfg, const model::Shard& shard, int32_t n_slots)
    : n_ctx_(n_slots),
      latent_(cfg.mla),
      n_head_kv_(cfg.mla ? 1 : shard.kv_heads.size()),
      k_head_(size_t(n_slots) * size_t(cfg.mla ? cfg.kv_values_per_layer() : cfg.head_dim_k)),
      v_head_(cfg.mla ? 0 : size_t(n_slots) * cfg.head_dim_v),
      k_(size_t(shard.layers.size()) * n_head_kv_ * k_head_),
      v_(size_t(shard.layers.size()) * n_head_kv_ * v_head_) {}

}  // namespace shoal::runtime
