#include "engine.h"

#include <algorithm>

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
  SHOAL_RETURN_IF_ERROR(e->model->CheckFitsInMemory(static_cast<int32_t>(n_ctx)).With(path));
  e->pool = std::make_unique<ThreadPool>(n_threads);
  e->session = std::make_unique<runtime::Session>(*e->model, *e->pool, static_cast<int32_t>(n_ctx));
  return e;
}

}  // namespace shoal::cli
