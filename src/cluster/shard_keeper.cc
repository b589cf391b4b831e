#include "cluster/shard_keeper.h"

#include <utility>

namespace shoal::cluster {

std::unique_ptr<model::Model> ShardKeeper::Take(const gguf::Digest& model_id,
                                                const model::Shard& shard) {
  std::unique_ptr<model::Model> out;
  bool same = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    out = std::move(model_);
    same = out && id_ == model_id && out->shard() == shard;
  }
  if (!same) out.reset();  // released here, before the caller loads what it needs
  return out;
}

bool ShardKeeper::Holds(const gguf::Digest& model_id, const model::Shard& shard) const {
  std::lock_guard<std::mutex> l(mu_);
  return model_ && id_ == model_id && model_->shard() == shard;
}

void ShardKeeper::Keep(const gguf::Digest& model_id, std::unique_ptr<model::Model> m) {
  std::unique_ptr<model::Model> old;
  {
    std::lock_guard<std::mutex> l(mu_);
    old = std::move(model_);
    model_ = std::move(m);
    id_ = model_id;
  }
}

void ShardKeeper::Release() {
  std::unique_ptr<model::Model> old;
  std::lock_guard<std::mutex> l(mu_);
  old = std::move(model_);
}

uint64_t ShardKeeper::held_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return model_ ? model_->copied_bytes() : 0;
}

}  // namespace shoal::cluster
