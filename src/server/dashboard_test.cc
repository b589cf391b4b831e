// The dashboard's routes on a real httplib server (127.0.0.1, a free port): every compiled-in
// asset byte for byte as the bundle step wrote it, its headers (content type, ETag with 304,
// a Content-Security-Policy without inline or remote script), and GET /v1/pool.
#include "server/dashboard.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace shoal::server {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolSources src;
    src.model_id = "test-model";
    src.stats = [this] {
      runtime::SchedulerStats s;
      const int64_t n = reads_.fetch_add(1);
      s.generated_tokens_total = 10 * n;
      s.requests_running = 2;
      s.kv_blocks_total = 64;
      s.kv_blocks_used = 16;
      return s;
    };
    monitor_ = RegisterDashboard(server_, src);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    monitor_.reset();
  }
  httplib::Client Client() { return httplib::Client("127.0.0.1", port_); }

  std::atomic<int64_t> reads_{0};
  httplib::Server server_;
  std::unique_ptr<PoolMonitor> monitor_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(DashboardTest, ServesEveryAssetAsBuiltWithItsHeaders) {
  const char* bin = std::getenv("SHOAL_BINARY_DIR");
  ASSERT_NE(bin, nullptr);
  const std::pair<const char*, const char*> expect[] = {{"/", "index.html"},
                                                        {"/chat", "chat.html"},
                                                        {"/assets/dashboard.js", "dashboard.js"},
                                                        {"/assets/chat.js", "chat.js"},
                                                        {"/assets/style.css", "style.css"},
                                                        {"/assets/icon.svg", "icon.svg"}};
  httplib::Client c = Client();
  for (const auto& [url, file] : expect) {
    auto r = c.Get(url);
    ASSERT_TRUE(r) << url;
    EXPECT_EQ(r->status, 200) << url;
    EXPECT_EQ(r->body, ReadFile(std::string(bin) + "/web/" + file)) << url;
    const std::string type = r->get_header_value("Content-Type");
    const std::string ext = std::string(file).substr(std::string(file).rfind('.') + 1);
    const char* want = ext == "html"  ? "text/html"
                       : ext == "js"  ? "text/javascript"
                       : ext == "css" ? "text/css"
                                      : "image/svg+xml";
    EXPECT_EQ(type.rfind(want, 0), 0u) << url << ": " << type;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << url;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << url;
    EXPECT_EQ(csp.find("http"), std::string::npos) << url << ": no remote origin";
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
    const std::string etag = r->get_header_value("ETag");
    ASSERT_FALSE(etag.empty()) << url;
    auto again = c.Get(url, {{"If-None-Match", etag}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304) << url;
    EXPECT_TRUE(again->body.empty());
    auto stale = c.Get(url, {{"If-None-Match", "\"0000000000000000\""}});
    ASSERT_TRUE(stale);
    EXPECT_EQ(stale->status, 200) << url;
  }
}

TEST_F(DashboardTest, PoolAnswersLiveFiguresAndHistorySinceATime) {
  httplib::Client c = Client();
  nlohmann::json j;
  // The monitor samples once a second; wait for two samples.
  for (int i = 0; i < 60; ++i) {
    auto r = c.Get("/v1/pool");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
    j = nlohmann::json::parse(r->body);
    if (j["history"]["samples"].size() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(j["history"]["samples"].size(), 2u);
  EXPECT_EQ(j["object"], "pool");
  EXPECT_TRUE(j["model"].is_null());  // no engine given
  EXPECT_TRUE(j["nodes"].empty());
  EXPECT_EQ(j["engine"]["ok"], true);
  EXPECT_EQ(j["history"]["capacity"], 600);
  EXPECT_EQ(j["live"]["requests_running"], 2);
  EXPECT_EQ(j["live"]["kv_blocks_used"], 16);
  EXPECT_GT(j["live"]["decode_tokens_per_s"].get<double>(), 0.0);
  const int64_t first = j["history"]["samples"][0]["t_ms"];
  auto r = c.Get("/v1/pool?since=" + std::to_string(first));
  ASSERT_TRUE(r);
  const nlohmann::json k = nlohmann::json::parse(r->body);
  for (const auto& s : k["history"]["samples"]) EXPECT_GT(s["t_ms"].get<int64_t>(), first);
  EXPECT_LT(k["history"]["samples"].size(), j["history"]["samples"].size() + 1);
}

TEST_F(DashboardTest, PoolRejectsABadSince) {
  httplib::Client c = Client();
  for (const char* bad : {"abc", "-5", "12x", "99999999999999999999999"}) {
    auto r = c.Get(std::string("/v1/pool?since=") + bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    const nlohmann::json e = nlohmann::json::parse(r->body);
    EXPECT_EQ(e["error"]["param"], "since") << bad;
  }
}

}  // namespace
}  // namespace shoal::server
