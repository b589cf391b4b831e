// A server started without its engine (the model still loading): the pages and GET /v1/pool
// answer, with the loading's progress as the ProgressBoard holds it; every other endpoint is 503
// with Retry-After, after the API key check.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "base/progress_board.h"
#include "server/server.h"

namespace shoal::server {
namespace {

class LoadingTest : public ::testing::Test {
 protected:
  void Start(const std::string& api_key = "") {
    ServerOptions o;
    o.port = 0;
    o.api_key = api_key;
    Backend b;  // no scheduler, no tokenizer: loading
    b.model_id = "m.gguf";
    b.progress = &board_;
    auto s = HttpServer::Create(o, b);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    thread_ = std::thread([this] { (void)server_->Run(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Client Client() { return httplib::Client("127.0.0.1", server_->port()); }

  ProgressBoard board_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(LoadingTest, ApiAnswers503WithRetryAfter) {
  Start();
  EXPECT_FALSE(server_->ready());
  httplib::Client c = Client();
  for (const char* path :
       {"/v1/chat/completions", "/v1/completions", "/v1/messages", "/tokenize"}) {
    auto r = c.Post(path, R"({"model":"m.gguf","prompt":"hi","messages":[]})", "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 503) << path;
    EXPECT_EQ(r->get_header_value("Retry-After"), "5") << path;
    const auto j = nlohmann::json::parse(r->body);
    ASSERT_TRUE(j.contains("error")) << r->body;
    if (std::string(path) == "/v1/messages") {  // Anthropic's shape
      EXPECT_EQ(j["type"], "error") << r->body;
      EXPECT_EQ(j["error"]["type"], "overloaded_error") << r->body;
    } else {
      EXPECT_EQ(j["error"]["code"], "model_loading") << r->body;
    }
  }
  for (const char* path : {"/health", "/metrics", "/v1/models"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 503) << path;
    EXPECT_EQ(r->get_header_value("Retry-After"), "5") << path;
  }
}

TEST_F(LoadingTest, PoolShowsTheProgressAndPagesAnswer) {
  board_.Report("ship", "shipping weights", "B", 1, 4096, 8192);
  board_.Report("ship", "shipping weights", "B", 2, 1000, 3000);
  Start();
  httplib::Client c = Client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  auto r = c.Get("/v1/pool");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["state"], "loading");
  EXPECT_TRUE(j["model"].is_null());
  EXPECT_TRUE(j["plan"].is_null());
  EXPECT_EQ(j["nodes"].size(), 0u);
  const auto& p = j["progress"];
  EXPECT_EQ(p["state"], "loading");
  EXPECT_EQ(p["phase"], "ship");
  EXPECT_EQ(p["unit"], "B");
  EXPECT_EQ(p["done"], 4096 + 1000);
  EXPECT_EQ(p["total"], 8192 + 3000);
  ASSERT_EQ(p["nodes"].size(), 2u);
  EXPECT_EQ(p["nodes"][0]["node"], 1);
  EXPECT_EQ(p["nodes"][0]["done"], 4096);
  EXPECT_EQ(p["nodes"][1]["total"], 3000);
  ASSERT_EQ(p["phases"].size(), 1u);

  // The next phase shows as it starts; a failure shows its error.
  board_.Report("ship", "shipping weights", "B", 1, 8192, 8192);
  board_.Report("ship", "shipping weights", "B", 2, 3000, 3000);
  board_.Report("map", "mapping and repacking weights", "B", 0, 10, 100);
  j = nlohmann::json::parse(c.Get("/v1/pool")->body);
  EXPECT_EQ(j["progress"]["phase"], "map");
  EXPECT_EQ(j["progress"]["done"], 10);
  EXPECT_EQ(j["progress"]["phases"][0]["finished"], true);
  EXPECT_EQ(j["progress"]["phases"][1]["finished"], false);
  board_.SetFailed("node 2: out of memory");
  j = nlohmann::json::parse(c.Get("/v1/pool")->body);
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["progress"]["error"], "node 2: out of memory");
}

TEST_F(LoadingTest, ApiKeyIsCheckedBeforeTheLoadingAnswer) {
  Start("secret-key-1234");
  httplib::Client c = Client();
  auto bad = c.Get("/v1/models", {{"Authorization", "Bearer wrong-key-0000"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  auto good = c.Get("/v1/models", {{"Authorization", "Bearer secret-key-1234"}});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 503);
  auto pool = c.Get("/v1/pool", {{"Authorization", "Bearer secret-key-1234"}});
  ASSERT_TRUE(pool);
  EXPECT_EQ(pool->status, 200);
  // A backend without a scheduler cannot make the server ready.
  EXPECT_EQ(server_->SetReady(Backend{}).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(server_->ready());
}

// A load that fails at once stops the server just as it starts to listen: Run still returns,
// whichever comes first.
TEST(HttpServerStop, StopJustAfterRunStartsEndsRun) {
  for (int i = 0; i < 50; ++i) {
    ServerOptions o;
    o.port = 0;
    auto s = HttpServer::Create(o, Backend{});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    std::thread t([&] { (void)(*s)->Run(); });
    if (i % 2 == 0) std::this_thread::yield();
    (*s)->Stop();
    t.join();  // hangs here if a Stop before the listen loop was lost
  }
  // Stop before Run: Run returns at once.
  ServerOptions o;
  o.port = 0;
  auto s = HttpServer::Create(o, Backend{});
  ASSERT_TRUE(s.ok());
  (*s)->Stop();
  EXPECT_TRUE((*s)->Run().ok());
}

}  // namespace
}  // namespace shoal::server
