// The weights of a node's shard, kept between jobs. A pool re-forms often with the plan it had (a
// restarted rank 0, a node that flapped and came back, a drain undone), and a node that still
// holds the slices the new plan gives it uses them at once instead of mapping and repacking them
// again. Weights of another model or another shard are released before the next are loaded.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "format/identity.h"
#include "model/model.h"
#include "model/shard.h"

namespace shoal::cluster {

class ShardKeeper {
 public:
  // The kept model when it is the shard `shard` of the model whose content identity is
  // `model_id` (ownership passes to the caller); else nullptr, and whatever was kept is released.
  std::unique_ptr<model::Model> Take(const gguf::Digest& model_id, const model::Shard& shard);
  // Whether Take(model_id, shard) would return a model (nothing is released).
  bool Holds(const gguf::Digest& model_id, const model::Shard& shard) const;
  // Keeps `m` (the shard it was loaded as) for the next job, releasing what was kept before.
  void Keep(const gguf::Digest& model_id, std::unique_ptr<model::Model> m);
  void Release();
  // Bytes the kept weights hold in the process's own memory (Model::copied_bytes): a node adds
  // them to the memory it offers, since it gives them back when the next plan differs.
  uint64_t held_bytes() const;

 private:
  mutable std::mutex mu_;
  gguf::Digest id_{};
  std::unique_ptr<model::Model> model_;
};

}  // namespace shoal::cluster
