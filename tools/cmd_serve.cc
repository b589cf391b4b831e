// shoal serve -m MODEL [--host 127.0.0.1] [--port 8080] [pool flags] [--api-key-file F]
//             [--parallel N] [--queue N] [--max-body BYTES] [-c CTX] [-t THREADS]
//             [--chat-template-fallback NAME]
// Holds the model (alone or across a pool) and answers OpenAI / Anthropic / llama-server HTTP
// requests until SIGINT or SIGTERM. See docs/api.md.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "base/progress_board.h"
#include "cli_common.h"
#include "cluster_flags.h"
#include "model/chat_template.h"
#include "runtime/scheduler.h"
#include "server/server.h"

namespace shoal::cli {
namespace {

struct Opts {
  ClusterOptions cluster;
  std::string model, alias, api_key_file, chat_template_fallback;
  server::ServerOptions http;
  int n_threads = 0;
  int64_t n_ctx = 0;
  int parallel = 8;
  int queue = 64;
  int batch_tokens = 512;
};

// How rank 0 reaches the workers, for the dashboard's links.
server::LinkInfo LinkOf(const ClusterOptions& c) {
  if (!c.pooled()) return {};
  if (c.mpi) return {"mpi", "mpi"};
  if (c.local > 0 && c.transport == "shm") return {"shm", "local"};
  return {"tcp", c.link_security};
}

// For tests: SHOAL_TEST_LOAD_DELAY_MS (at most a minute) holds the server in its loading state
// that long, as a step of its own, so that a test can watch the loading.
void TestLoadDelay(ProgressBoard& board) {
  const char* env = std::getenv("SHOAL_TEST_LOAD_DELAY_MS");
  if (env == nullptr) return;
  const int64_t ms = std::clamp<int64_t>(std::atoll(env), 0, 60000);
  for (int64_t done = 0;; done += 100) {
    board.Report("test-delay", "held by SHOAL_TEST_LOAD_DELAY_MS", "ms", -1,
                 uint64_t(std::min(done, ms)), uint64_t(ms));
    if (done >= ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(100, ms - done)));
  }
}

// One step of one token through every node, so that the first request does not pay for
// faulting the weights in (and a node that cannot compute shows before any request).
Status WarmUp(Engine& e, ProgressBoard& board) {
  auto fn = board.Reporter("warmup", "warming up", "steps");
  fn(0, 1);
  const int32_t tok = std::max(0, e.tokenizer().bos());
  if (e.executor->kv_blocks() > 0) {
    runtime::StepBatch b;
    b.entries.push_back({0, 0, tok, 1});
    b.tables.push_back({0});
    SHOAL_RETURN_IF_ERROR(e.executor->Step(b).status().With("the warm-up step"));
  } else {
    SHOAL_RETURN_IF_ERROR(e.Eval(std::span<const int32_t>(&tok, 1), false).status());
    SHOAL_RETURN_IF_ERROR(e.Reset());
  }
  fn(1, 1);
  return Status::Ok();
}

// What the server answers from once the model is loaded.
struct Loaded {
  std::unique_ptr<Engine> engine;
  std::optional<model::ChatTemplate> tmpl;
  std::unique_ptr<runtime::Scheduler> sched;
  std::unique_ptr<FailoverLink> failover;  // before the scheduler goes
};

StatusOr<Loaded> Load(const Opts& o, ProgressBoard& board) {
  Loaded l;
  SHOAL_ASSIGN_OR_RETURN(l.engine,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster, o.parallel, &board));
  Engine& e = *l.engine;
  model::ChatTemplateOptions to;
  to.fallback = o.chat_template_fallback;
  auto t = model::ChatTemplate::FromModel(*e.model, to);
  if (t.ok()) {
    l.tmpl = std::move(*t);
  } else if (t.status().code() == StatusCode::kNotFound && o.chat_template_fallback.empty()) {
    std::fprintf(stderr,
                 "shoal serve: %s; chat endpoints are off (--chat-template-fallback NAME turns "
                 "them on)\n",
                 t.status().message().c_str());
  } else {
    return t.status().With("the chat template");
  }
  TestLoadDelay(board);
  SHOAL_RETURN_IF_ERROR(WarmUp(e, board));
  std::vector<int32_t> eog;
  for (int32_t id = 0; id < e.tokenizer().n_vocab(); ++id) {
    if (e.tokenizer().IsEog(id)) eog.push_back(id);
  }
  runtime::SchedulerOptions so;
  so.max_sequences = o.parallel;
  so.max_queue = o.queue;
  so.max_batch_tokens = o.batch_tokens;
  EnableFailover(e, &so);
  SHOAL_ASSIGN_OR_RETURN(l.sched, runtime::Scheduler::Create(*e.executor, eog, so));
  l.failover = std::make_unique<FailoverLink>(e, *l.sched);
  return l;
}

Status Serve(Opts o) {
  // SIGINT/SIGTERM are taken by one thread (below) before any other thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error value, not a signal

  if (!o.api_key_file.empty()) {
    SHOAL_ASSIGN_OR_RETURN(std::string key, ReadFileBytes(o.api_key_file));
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (key.size() < 8)
      return InvalidArgument("the API key in " + o.api_key_file + " is too short");
    o.http.api_key = key;
  }
  if (!server::IsLoopbackHost(o.http.host) && o.http.api_key.empty() && !o.http.insecure_no_auth) {
    return InvalidArgument("serving on " + o.http.host +
                           " (not a loopback address) needs --api-key-file (or, knowingly, "
                           "--insecure-no-auth)");
  }

  // The HTTP server answers first (the dashboard shows the loading; the API answers 503 with
  // Retry-After), then the model loads on this thread.
  ProgressBoard board(stderr);
  server::Backend b;
  b.model_id = !o.alias.empty() ? o.alias : std::filesystem::path(o.model).filename().string();
  b.progress = &board;
  b.link = LinkOf(o.cluster);
  o.http.http_threads = o.parallel + o.queue + 16;
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<server::HttpServer> http,
                         server::HttpServer::Create(o.http, b));
  std::fprintf(stderr,
               "shoal serve: http://%s:%d shows the loading (the API answers 503 until "
               "the model is ready)\n",
               o.http.host.c_str(), http->port());
  std::fflush(stderr);

  std::atomic<runtime::Scheduler*> ready_sched{nullptr};
  std::atomic<bool> ending{false};  // the main thread wakes the waiter to end it
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (ending.load()) return;
    if (runtime::Scheduler* s = ready_sched.load()) {
      s->Stop();  // ends every request (their streams close), then the HTTP threads can end
    } else {
      // Still loading: nothing to finish (local workers end with this process).
      std::fprintf(stderr, "\nshoal serve: stopped while loading\n");
      std::fflush(stderr);
      std::_Exit(1);
    }
    http->Stop();
  });
  Status http_status;
  std::thread http_thread([&] { http_status = http->Run(); });
  auto finish = [&](Status st) {
    http->Stop();
    http_thread.join();
    ending.store(true);
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return st;
  };

  StatusOr<Loaded> loaded = Load(o, board);
  if (!loaded.ok()) {
    board.SetFailed(loaded.status().ToString());
    return finish(loaded.status());
  }
  Engine& e = *loaded->engine;
  runtime::Scheduler& sched = *loaded->sched;
  b.scheduler = &sched;
  b.tokenizer = &e.tokenizer();
  b.chat_template = loaded->tmpl ? &*loaded->tmpl : nullptr;
  b.n_nodes = e.n_nodes();
  if (e.job) {
    const parallel::Plan& plan = e.job->plan;
    for (size_t r = 0; r < plan.ranks.size(); ++r) {
      server::NodeInfo n;
      n.rank = plan.ranks[r].rank;
      n.name = r < plan.nodes.size() ? plan.nodes[r].name : "";
      n.stage = plan.ranks[r].stage;
      n.weight_bytes = plan.ranks[r].weight_bytes;
      n.kv_bytes = plan.ranks[r].kv_bytes;
      b.nodes.push_back(n);
    }
  }
  b.engine = &e;  // the dashboard (GET /v1/pool)
  if (e.can_reform()) {
    b.drain = [eng = &e](const std::string& node, bool on) { return eng->Drain(node, on); };
    b.upgrade = [eng = &e](const std::string& binary) { return eng->StartUpgrade(binary); };
  }
  if (Status st = http->SetReady(b); !st.ok()) return finish(st);
  board.SetReady();
  ready_sched.store(&sched);
  std::fprintf(stderr,
               "shoal serve: listening on http://%s:%d (model %s, %d node%s, context %d, "
               "%d sequences at once)\n",
               o.http.host.c_str(), http->port(), b.model_id.c_str(), b.n_nodes,
               b.n_nodes == 1 ? "" : "s", sched.n_ctx(), o.parallel);
  std::fflush(stderr);

  http_thread.join();  // until a signal stops it, or a listen error
  ending.store(true);
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  sched.Stop();
  http.reset();  // its dashboard monitor reads the scheduler: gone before the scheduler is
  std::fprintf(stderr, "shoal serve: stopped\n");
  return http_status;
}

}  // namespace

Action RegisterServe(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("serve", "Answer OpenAI / Anthropic API requests over HTTP");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  AddClusterOptions(sub, &o->cluster);
  AddDiscoverOptions(sub, &o->cluster);
  sub->add_option("--host", o->http.host, "address to listen on")->capture_default_str();
  sub->add_option("--port", o->http.port, "port to listen on (0: any free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub->add_option("--alias", o->alias, "the model's id in the API (default: the file's name)");
  sub->add_option("--api-key-file", o->api_key_file,
                  "file holding the API key clients send as 'Authorization: Bearer KEY'");
  sub->add_flag("--insecure-no-auth", o->http.insecure_no_auth,
                "allow a non-loopback --host without --api-key-file");
  sub->add_option("--parallel", o->parallel, "sequences generated at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub->add_option("--queue", o->queue, "requests waiting beyond --parallel (then 429)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  sub->add_option("--batch-tokens", o->batch_tokens, "tokens evaluated per step at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  sub->add_option("--max-body", o->http.max_body_bytes, "largest request body in bytes (then 413)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core")->capture_default_str();
  sub->add_option("-c,--ctx", o->n_ctx,
                  "context length per sequence; 0 = the model's, at most 4096")
      ->capture_default_str();
  sub->add_option("--chat-template-fallback", o->chat_template_fallback,
                  "built-in chat template to use when the model has none (e.g. chatml)");
  return [o] { return Serve(*o); };
}

}  // namespace shoal::cli
