#include "server/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "server/api.h"
#include "server/dashboard.h"

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

// httplib's listen backlog is compiled into Debian's library (5): too short for many clients
// connecting at once. Listening again on the bound socket raises it.
class Server : public httplib::Server {
 public:
  void RaiseBacklog(int n) {
    const auto s = svr_sock_.load();
    if (s != INVALID_SOCKET) ::listen(s, n);
  }
};

std::string EndpointLabel(const std::string& path) {
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/models",
                        "/health", "/metrics", "/tokenize", "/detokenize", "/apply-template"}) {
    if (path == p) return p;
  }
  return "other";
}

// The pool's nodes: which shard each holds (set once, when the job started), and each one's
// compute time per step (runtime/step_times.h; once a step has run).
std::string NodeLines(const std::vector<NodeInfo>& nodes,
                      const std::vector<runtime::NodeStepTime>& steps) {
  if (nodes.empty()) return "";
  std::string o =
      "# HELP shoal_node_weight_bytes bytes of the weights each node of the pool holds\n"
      "# TYPE shoal_node_weight_bytes gauge\n";
  std::string kv =
      "# HELP shoal_node_kv_bytes bytes of KV cache each node of the pool holds\n"
      "# TYPE shoal_node_kv_bytes gauge\n";
  std::string ms =
      "# HELP shoal_node_step_ms median compute time per step of each node (its last 32 steps, "
      "time in collectives excluded)\n"
      "# TYPE shoal_node_step_ms gauge\n";
  std::string share =
      "# HELP shoal_node_step_share each node's compute over rank 0's step wall time (last 32 "
      "steps)\n"
      "# TYPE shoal_node_step_share gauge\n";
  for (const NodeInfo& n : nodes) {
    std::string name;
    for (char c : n.name) {
      if (c != '"' && c != '\\' && c != '\n') name += c;
    }
    const std::string labels = "{rank=\"" + std::to_string(n.rank) + "\",name=\"" + name +
                               "\",stage=\"" + std::to_string(n.stage) + "\"}";
    o += "shoal_node_weight_bytes" + labels + " " + std::to_string(n.weight_bytes) + "\n";
    kv += "shoal_node_kv_bytes" + labels + " " + std::to_string(n.kv_bytes) + "\n";
    if (n.rank >= 0 && size_t(n.rank) < steps.size() && steps[size_t(n.rank)].steps > 0) {
      char num[64];
      std::snprintf(num, sizeof(num), " %.6g\n", steps[size_t(n.rank)].step_ms);
      ms += "shoal_node_step_ms" + labels + num;
      std::snprintf(num, sizeof(num), " %.6g\n", steps[size_t(n.rank)].share);
      share += "shoal_node_step_share" + labels + num;
    }
  }
  return o + kv + ms + share;
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

bool SecretEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

struct HttpServer::Impl {
  ServerOptions opt;
  Backend backend;
  Metrics metrics;
  ApiContext ctx;
  Server http;
  std::unique_ptr<PoolMonitor> monitor;  // the dashboard's live figures
  int port = 0;
  // Set (release) once ctx and backend hold the engine; handlers read it (acquire) first.
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false}, run_entered{false}, run_done{false};  // Stop and Run
};

// Paths a loading server answers: the pages, their assets and the pool's progress.
bool AnsweredWhileLoading(const std::string& path) {
  return path == "/" || path == "/chat" || path == "/v1/pool" || path.rfind("/assets/", 0) == 0;
}

constexpr int kLoadingRetryAfterS = 5;

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
bool HttpServer::ready() const { return impl_->ready.load(std::memory_order_acquire); }

Status HttpServer::SetReady(const Backend& b) {
  if (b.scheduler == nullptr || b.tokenizer == nullptr) return InvalidArgument("no engine");
  if (ready()) return InvalidArgument("the server is ready already");
  Impl* im = impl_.get();
  im->backend = b;
  im->ctx.scheduler = b.scheduler;
  im->ctx.tokenizer = b.tokenizer;
  im->ctx.chat_template = b.chat_template;
  im->ctx.model_id = b.model_id;
  im->ctx.created = UnixNow();
  im->monitor->SetEngine(b.engine, b.drain, b.upgrade);
  im->ready.store(true, std::memory_order_release);
  return Status::Ok();
}
HttpServer::~HttpServer() { Stop(); }
int HttpServer::port() const { return impl_->port; }
// httplib's stop() does nothing before its listen loop runs: a Stop that comes just as Run starts
// (a load that fails at once) waits for the loop to start, then stops it; a Run that starts after
// a Stop returns at once.
void HttpServer::Stop() {
  Impl* im = impl_.get();
  im->stopping.store(true);
  im->http.stop();
  if (!im->run_entered.load()) return;
  while (!im->run_done.load() && !im->http.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  im->http.stop();
}

Status HttpServer::Run() {
  Impl* im = impl_.get();
  im->run_entered.store(true);
  bool ok = true;
  if (!im->stopping.load()) ok = im->http.listen_after_bind();
  im->run_done.store(true);
  if (!ok) return IoError("the HTTP server stopped with an error");
  return Status::Ok();
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const ServerOptions& o, const Backend& b) {
  if (!IsLoopbackHost(o.host) && o.api_key.empty() && !o.insecure_no_auth) {
    return InvalidArgument("serving on " + o.host +
                           " (not a loopback address) needs --api-key-file (or, knowingly, "
                           "--insecure-no-auth)");
  }
  if ((b.scheduler == nullptr) != (b.tokenizer == nullptr)) return InvalidArgument("no engine");
  auto impl = std::make_unique<Impl>();
  impl->opt = o;
  impl->backend = b;
  ApiContext& ctx = impl->ctx;
  ctx.scheduler = b.scheduler;
  ctx.tokenizer = b.tokenizer;
  ctx.chat_template = b.chat_template;
  ctx.model_id = b.model_id;
  ctx.created = UnixNow();
  ctx.limits = o.limits;
  ctx.metrics = &impl->metrics;

  Impl* im = impl.get();
  Server& s = impl->http;
  const int threads = std::max(4, o.http_threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  s.set_payload_max_length(o.max_body_bytes);
  s.set_keep_alive_max_count(1000);
  s.set_keep_alive_timeout(5);
  s.set_tcp_nodelay(true);

  s.set_pre_routing_handler([im](const httplib::Request& req, httplib::Response& res) {
    // While the model loads, only the pages and GET /v1/pool answer; the rest is 503 with
    // Retry-After (after the API key check, so that a bad key is told so at once).
    auto loading = [&] {
      if (im->ready.load(std::memory_order_acquire) || AnsweredWhileLoading(req.path)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      ApiError e;
      e.http_status = 503;
      e.type = "unavailable_error";
      e.code = "model_loading";
      e.message = "the model is loading (GET /v1/pool shows how far); retry in a few seconds";
      SendError(res, e, req.path == "/v1/messages");
      res.set_header("Retry-After", std::to_string(kLoadingRetryAfterS));
      return httplib::Server::HandlerResponse::Handled;
    };
    if (im->opt.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return loading();
    std::string given;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
    if (given.empty()) given = req.get_header_value("x-api-key");  // Anthropic's clients
    if (SecretEquals(given, im->opt.api_key)) return loading();
    ApiError e;
    e.http_status = 401;
    e.type = "authentication_error";
    e.code = "invalid_api_key";
    e.message = given.empty() ? "an API key is required (Authorization: Bearer KEY)"
                              : "the API key is not valid";
    SendError(res, e, req.path == "/v1/messages");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib answers itself (413 over --max-body, 404 unknown path, 400 bad HTTP) get a
  // JSON body too.
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e;
        e.http_status = res.status;
        if (res.status == 413) {
          e.message = "the request body is larger than this server accepts (--max-body)";
          e.code = "request_too_large";
        } else if (res.status == 404) {
          e.message = "no endpoint " + req.method + " " + req.path;
          e.type = "not_found_error";
          e.code = "unknown_url";
        } else {
          e.message = "bad HTTP request (status " + std::to_string(res.status) + ")";
          if (res.status >= 500) e.type = "server_error";
        }
        SendError(res, e, req.path == "/v1/messages");
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        ApiError e;
        e.http_status = 500;
        e.type = "server_error";
        e.message = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& ex) {
          e.message = std::string("internal error: ") + ex.what();
        } catch (...) {
        }
        SendError(res, e, req.path == "/v1/messages");
      });
  s.set_logger([im](const httplib::Request& req, const httplib::Response& res) {
    im->metrics.CountRequest(EndpointLabel(req.path), res.status);
  });

  ApiContext* c = &impl->ctx;
  s.Post("/v1/chat/completions",
         [c](const httplib::Request& q, httplib::Response& r) { HandleChatCompletions(*c, q, r); });
  s.Post("/v1/completions",
         [c](const httplib::Request& q, httplib::Response& r) { HandleCompletions(*c, q, r); });
  s.Post("/v1/messages",
         [c](const httplib::Request& q, httplib::Response& r) { HandleMessages(*c, q, r); });
  s.Post("/tokenize",
         [c](const httplib::Request& q, httplib::Response& r) { HandleTokenize(*c, q, r); });
  s.Post("/detokenize",
         [c](const httplib::Request& q, httplib::Response& r) { HandleDetokenize(*c, q, r); });
  s.Post("/apply-template",
         [c](const httplib::Request& q, httplib::Response& r) { HandleApplyTemplate(*c, q, r); });
  s.Get("/v1/models", [c](const httplib::Request&, httplib::Response& r) {
    SendJson(r, {{"object", "list"},
                 {"data", Json::array({{{"id", c->model_id},
                                        {"object", "model"},
                                        {"created", c->created},
                                        {"owned_by", "shoal"}}})}});
  });
  s.Get("/health", [](const httplib::Request&, httplib::Response& r) {
    SendJson(r, {{"status", "ok"}});
  });
  s.Get("/metrics", [im](const httplib::Request&, httplib::Response& r) {
    const runtime::SchedulerStats st = im->ctx.scheduler->stats();
    r.set_content(im->metrics.Render(st, im->backend.n_nodes, im->ctx.scheduler->n_ctx(),
                                     NodeLines(im->backend.nodes, st.node_steps)),
                  "text/plain; version=0.0.4");
  });

  PoolSources ps;
  ps.engine = nullptr;  // SetReady gives it
  ps.stats = [im] {
    return im->ready.load(std::memory_order_acquire) ? im->ctx.scheduler->stats()
                                                     : runtime::SchedulerStats{};
  };
  ps.totals = [im] { return im->metrics.totals(); };
  ps.model_id = b.model_id;
  ps.progress = b.progress;
  ps.link = b.link;
  impl->monitor = RegisterDashboard(s, std::move(ps));

  const int port =
      o.port == 0 ? s.bind_to_any_port(o.host) : (s.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) {
    return IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                   " (in use, or not an address of this machine)");
  }
  s.RaiseBacklog(512);
  impl->port = port;
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(impl)));
  if (b.scheduler != nullptr) SHOAL_RETURN_IF_ERROR(server->SetReady(b));
  return server;
}

}  // namespace shoal::server
