#include "server/dashboard.h"

#include <httplib.h>

#include <charconv>

#include "server/api.h"

namespace shoal::server {

void ServeAsset(const WebAsset& a, const httplib::Request& req, httplib::Response& res) {
  res.set_header("ETag", std::string(a.etag));
  // Revalidated on every load (a 304 is a few bytes): a new binary's pages show at once.
  res.set_header("Cache-Control", "no-cache");
  res.set_header("Content-Security-Policy", kDashboardCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  const std::string inm = req.get_header_value("If-None-Match");
  if (!inm.empty() && (inm == "*" || inm.find(a.etag) != std::string::npos)) {
    res.status = 304;
    return;
  }
  res.set_content(a.body.data(), a.body.size(), std::string(a.content_type));
}

std::unique_ptr<PoolMonitor> RegisterDashboard(httplib::Server& s, PoolSources sources) {
  for (const WebAsset& a : WebAssets()) {
    const WebAsset* ap = &a;
    s.Get(std::string(a.url),
          [ap](const httplib::Request& q, httplib::Response& r) { ServeAsset(*ap, q, r); });
  }
  auto monitor = std::make_unique<PoolMonitor>(std::move(sources));
  PoolMonitor* m = monitor.get();
  s.Post("/v1/pool/upgrade", [m](const httplib::Request& q, httplib::Response& r) {
    const nlohmann::json body = nlohmann::json::parse(q.body, nullptr, false);
    ApiError e;
    if (body.is_discarded() || !body.is_object() || !body.contains("binary") ||
        !body["binary"].is_string()) {
      e.message = "want {\"binary\": \"/absolute/path/to/shoal\"}";
      e.param = "binary";
      e.code = "invalid_value";
    } else {
      const Status st = m->Upgrade(body["binary"].get<std::string>());
      if (st.ok()) {
        SendJson(r, nlohmann::ordered_json{{"upgrade", "started"}});
        r.status = 202;
        return;
      }
      e = FromStatus(st);
    }
    SendError(r, e);
  });
  s.Post("/v1/pool/drain", [m](const httplib::Request& q, httplib::Response& r) {
    ApiError e;
    const nlohmann::json body = nlohmann::json::parse(q.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("node") ||
        !body["node"].is_string() || (body.contains("drain") && !body["drain"].is_boolean())) {
      e.message = "want {\"node\": \"HOST:PORT\", \"drain\": true|false}";
      e.param = "node";
      e.code = "invalid_value";
    } else {
      const std::string node = body["node"].get<std::string>();
      const bool on = body.value("drain", true);
      const Status st = m->Drain(node, on);
      if (st.ok()) {
        SendJson(r, nlohmann::ordered_json{{"node", node}, {"draining", on}});
        return;
      }
      e = FromStatus(st);
    }
    SendError(r, e);
  });
  s.Get("/v1/pool", [m](const httplib::Request& q, httplib::Response& r) {
    int64_t since = -1;
    if (q.has_param("since")) {
      const std::string v = q.get_param_value("since");
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), since);
      if (ec != std::errc() || end != v.data() + v.size() || since < 0) {
        ApiError e;
        e.message = "since must be a time in unix milliseconds (a whole number >= 0)";
        e.param = "since";
        e.code = "invalid_value";
        SendError(r, e);
        return;
      }
    }
    r.set_header("Cache-Control", "no-store");
    SendJson(r, m->Status(since));
  });
  return monitor;
}

}  // namespace shoal::server
