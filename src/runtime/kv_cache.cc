#include "runtime/kv_cache.h"

namespace shoal::runtime {

KvCache::KvCache(const model::ModelConfig& cfg, int32_t n_ctx)
    : n_ctx_(n_ctx),
      n_head_kv_(cfg.n_head_kv),
      k_head_(size_t(n_ctx) * cfg.head_dim_k),
      v_head_(size_t(n_ctx) * cfg.head_dim_v),
      k_(size_t(cfg.n_layer) * cfg.n_head_kv * k_head_),
      v_(size_t(cfg.n_layer) * cfg.n_head_kv * v_head_) {}

}  // namespace shoal::runtime
