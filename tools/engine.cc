#include "engine.h"

#include <algorithm>

#include "base/sysinfo.h"
#include "cli_common.h"

namespace shoal::cli {

int32_t Engine::n_vocab() const { return model->config().n_vocab; }
uint64_t Engine::weight_bytes() const { return model->weight_bytes(); }

StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& path, int n_threads,
                                             int64_t n_ctx) {
  if (n_ctx < 0) return InvalidArgument("the context length must be >= 0");
  if (n_ctx > (int64_t{1} << 30)) {
    return ResourceExhausted("a context of " + std::to_string(n_ctx) +
                             " tokens needs more memory than any machine has");
  }
  model::LoadOptions lo;
  lo.check_memory = false;  // checked below, with the context actually used
  auto e = std::make_unique<Engine>();
  SHOAL_ASSIGN_OR_RETURN(e->model, model::Model::Load(path, lo));
  const model::ModelConfig& cfg = e->model->config();
  if (n_ctx == 0) {
    n_ctx = cfg.n_ctx_train > 0 ? std::min<int64_t>(cfg.n_ctx_train, 4096) : 4096;
  }
  e->n_ctx = n_ctx;
  const uint64_t kv_bytes = cfg.KvCacheBytes(static_cast<int32_t>(n_ctx));
  const uint64_t need = e->model->weight_bytes() + kv_bytes;
  const uint64_t have = TotalMemoryBytes();
  if (have > 0 && need > have) {
    return ResourceExhausted(path + ": needs " + HumanBytes(need) + " of memory (weights " +
                             HumanBytes(e->model->weight_bytes()) + " + KV cache " +
                             HumanBytes(kv_bytes) + " for " + std::to_string(n_ctx) +
                             " tokens), this machine has " + HumanBytes(have));
  }
  e->pool = std::make_unique<ThreadPool>(n_threads);
  e->session = std::make_unique<runtime::Session>(*e->model, *e->pool, static_cast<int32_t>(n_ctx));
  return e;
}

}  // namespace shoal::cli
