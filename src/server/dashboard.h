// The web face of `shoal serve` (docs/dashboard.md): the dashboard at /, the chat page at /chat,
// their scripts and styles at /assets/..., all compiled into the binary, and GET /v1/pool, the
// JSON the dashboard polls.
#pragma once

#include <memory>
#include <string>

#include "server/pool_status.h"
#include "server/web_assets.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace shoal::server {

// The headers every page and asset carries: a Content-Security-Policy that allows this origin's
// scripts, styles and fetches only (no inline script, nothing remote), and no sniffing or framing.
inline constexpr const char* kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// Answers one asset: 200 with its body, or 304 when If-None-Match names its ETag.
void ServeAsset(const WebAsset& a, const httplib::Request& req, httplib::Response& res);

// Registers the pages, the assets and GET /v1/pool on `s`; the returned monitor samples the live
// figures until it is destroyed (before the scheduler it reads).
std::unique_ptr<PoolMonitor> RegisterDashboard(httplib::Server& s, PoolSources sources);

}  // namespace shoal::server
