// The HTTP server of `shoal serve`: OpenAI's /v1/chat/completions, /v1/completions and
// /v1/models, Anthropic's /v1/messages, llama-server's /tokenize, /detokenize and
// /apply-template, and /health and /metrics, over cpp-httplib. Handler threads parse and answer;
// the one scheduler thread (runtime::Scheduler) owns the engine. See docs/api.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "runtime/scheduler.h"
#include "server/pool_progress.h"
#include "server/request.h"

namespace shoal::cluster {
struct Engine;
}

namespace shoal::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (see HttpServer::port)
  std::string api_key;  // non-empty: /v1/* needs "Authorization: Bearer KEY" (or x-api-key)
  bool insecure_no_auth = false;  // allow a non-loopback host without an API key
  size_t max_body_bytes = size_t{8} << 20;
  int http_threads = 64;  // connections served at once (streams hold one each)
  ParseLimits limits;
};

// One node of the pool, as /metrics lists it.
struct NodeInfo {
  int rank = 0;
  std::string name;
  int stage = 0;
  uint64_t weight_bytes = 0;  // its shard of the weights
  uint64_t kv_bytes = 0;      // its KV cache
};

struct Backend {
  runtime::Scheduler* scheduler = nullptr;
  const model::Tokenizer* tokenizer = nullptr;
  const model::ChatTemplate* chat_template = nullptr;  // nullptr: no chat endpoints
  std::string model_id;                                // what /v1/models lists
  int n_nodes = 1;
  std::vector<NodeInfo> nodes;              // pooled: every node (empty: single node)
  const cluster::Engine* engine = nullptr;  // the dashboard's model, plan and nodes (optional)
  std::function<Status(const std::string& node, bool drain)> drain;  // POST /v1/pool/drain
  std::function<Status(const std::string& binary)> upgrade;          // POST /v1/pool/upgrade
  const ProgressBoard* progress = nullptr;  // the start's steps, for GET /v1/pool (optional)
  LinkInfo link;                            // how rank 0 reaches the workers, for /v1/pool
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);
// Constant-time comparison (the time depends on the lengths only).
bool SecretEquals(const std::string& a, const std::string& b);

class HttpServer {
 public:
  // Binds the socket. InvalidArgument: a non-loopback host without api_key and without
  // insecure_no_auth; IoError: the address cannot be bound. Without a scheduler (b.scheduler and
  // b.tokenizer null) the server starts loading: it answers the dashboard's pages and GET
  // /v1/pool (b.progress shows the loading), and every other endpoint with 503 and Retry-After,
  // until SetReady.
  static StatusOr<std::unique_ptr<HttpServer>> Create(const ServerOptions& o, const Backend& b);
  // The model is loaded: every endpoint answers from `b` (which needs a scheduler and a
  // tokenizer) from now on. Once only.
  Status SetReady(const Backend& b);
  bool ready() const;
  ~HttpServer();
  int port() const;
  // Serves until Stop (from another thread or a signal handler's thread).
  Status Run();
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::server
