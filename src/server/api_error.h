// An error answered to an HTTP client, in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "...", "code": "..."}}
// (Anthropic's endpoint writes the same fields in its own shape, see AnthropicErrorJson.)
#pragma once

#include <string>

#include "base/status.h"

namespace shoal::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // invalid_request_error, authentication_error,
                                               // not_found_error, rate_limit_error, server_error
  std::string param;                           // the request field at fault; empty: null
  std::string code;                            // a machine-readable code; empty: null
  int retry_after_s = 0;                       // > 0: a Retry-After header
};

ApiError BadRequest(std::string message, std::string param = "", std::string code = "");
// A Status from the engine as an HTTP error: InvalidArgument 400, ResourceExhausted 429 (with
// Retry-After), Unavailable 503 (with Retry-After), NotFound 404, anything else 500.
ApiError FromStatus(const Status& st, std::string param = "");

std::string OpenAiErrorJson(const ApiError& e);
std::string AnthropicErrorJson(const ApiError& e);

}  // namespace shoal::server
