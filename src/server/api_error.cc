#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace shoal::server {
namespace {

nlohmann::json OrNull(const std::string& s) {
  return s.empty() ? nlohmann::json() : nlohmann::json(s);
}

}  // namespace

ApiError BadRequest(std::string message, std::string param, std::string code) {
  ApiError e;
  e.http_status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ApiError FromStatus(const Status& st, std::string param) {
  ApiError e;
  e.message = st.message();
  e.param = std::move(param);
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      e.http_status = 400;
      break;
    case StatusCode::kNotFound:
      e.http_status = 404;
      e.type = "not_found_error";
      break;
    case StatusCode::kResourceExhausted:
      e.http_status = 429;
      e.type = "rate_limit_error";
      e.code = "queue_full";
      e.retry_after_s = 1;
      break;
    case StatusCode::kUnavailable:
      e.http_status = 503;
      e.type = "server_error";
      e.code = "unavailable";
      e.retry_after_s = 5;
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

std::string OpenAiErrorJson(const ApiError& e) {
  nlohmann::json j = {{"error",
                       {{"message", e.message},
                        {"type", e.type},
                        {"param", OrNull(e.param)},
                        {"code", OrNull(e.code)}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string AnthropicErrorJson(const ApiError& e) {
  std::string type = e.type;
  if (e.http_status == 401) type = "authentication_error";
  if (e.http_status == 429) type = "rate_limit_error";
  if (e.http_status == 503) type = "overloaded_error";
  if (e.http_status == 413) type = "request_too_large";
  if (e.http_status >= 500 && e.http_status != 503) type = "api_error";
  nlohmann::json j = {{"type", "error"}, {"error", {{"type", type}, {"message", e.message}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shoal::server
