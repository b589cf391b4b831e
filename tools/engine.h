// The one place the CLI opens a model for evaluation: model + thread pool + session.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "runtime/session.h"

namespace shoal::cli {

struct Engine {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<runtime::Session> session;
  int64_t n_ctx = 0;

  const model::Tokenizer& tokenizer() const { return model->tokenizer(); }
  int32_t n_vocab() const;
  uint64_t weight_bytes() const;
};

// n_threads <= 0: one per core. n_ctx <= 0: the model's training context, at most 4096.
// Fails with a clear Status on a missing or corrupt file, an unsupported model, or a model (plus
// its KV cache) larger than this machine's memory.
StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& path, int n_threads, int64_t n_ctx);

}  // namespace shoal::cli
