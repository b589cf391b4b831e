// `shoal bench --serve`: the server measured over HTTP, in this process: for each layout (one
// node, or N nodes on this machine), a `shoal serve` engine and HTTP server on 127.0.0.1, and
// 1, 4, 8, 16 concurrent streaming clients (OpenAI /v1/completions, SSE), each decoding n_decode
// tokens after a short distinct prompt. Reports aggregate decode tokens/s and time to first
// token p50/p99 at each concurrency, beside the engine's own single-stream decode speed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace shoal::cli {

struct ServeBenchOptions {
  std::string model_path;
  std::vector<int> streams = {1, 4, 8, 16};
  std::vector<std::pair<std::string, int>> layouts;  // ("", 1): one node; ("tcp", 2): a pool
  int n_threads = 1;                                 // per node
  int n_decode = 32;
  int reps = 3;
};

StatusOr<nlohmann::json> BenchServe(const ServeBenchOptions& o, bool quiet);

}  // namespace shoal::cli
