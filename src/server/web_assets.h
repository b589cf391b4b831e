// The dashboard's files (web/, bundled at build time), compiled into the binary by
// cmake/ShoalWebAssets.cmake: served by server/dashboard.cc with no file or network access.
#pragma once

#include <span>
#include <string_view>

namespace shoal::server {

struct WebAsset {
  std::string_view url;           // "/", "/chat", "/assets/dashboard.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // quoted: "\"0123456789abcdef\"" (a prefix of its SHA-256)
};

// Every asset (the generated web_assets_data.cc).
std::span<const WebAsset> WebAssets();

}  // namespace shoal::server
