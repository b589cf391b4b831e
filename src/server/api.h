// What the endpoint handlers share: the engine's pieces, the limits, the metrics, and the steps
// every generating endpoint takes (prompt from the request, submit, wait).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "runtime/scheduler.h"
#include "server/api_error.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/request.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace shoal::server {

struct ApiContext {
  runtime::Scheduler* scheduler = nullptr;
  const model::Tokenizer* tokenizer = nullptr;
  const model::ChatTemplate* chat_template = nullptr;  // nullptr: chat endpoints answer 400
  std::string model_id;
  int64_t created = 0;  // unix seconds the model was loaded
  ParseLimits limits;
  Metrics* metrics = nullptr;
  std::atomic<uint64_t> next_id{1};
};

// The prompt of a request, ready to submit.
struct PreparedPrompt {
  std::vector<int32_t> tokens;
  std::string rendered;  // chat: the template's output
};

std::optional<PreparedPrompt> PreparePrompt(ApiContext& ctx, const GenerationRequest& r,
                                            ApiError* err);
// Prompt + request -> a running generation (max_tokens clamped to the context left).
std::shared_ptr<Generation> StartGeneration(ApiContext& ctx, const GenerationRequest& r,
                                            const PreparedPrompt& p, ApiError* err);
// The model named in a request must be the one served (empty: accepted).
bool CheckModel(const ApiContext& ctx, const std::string& model, ApiError* err);

// "chatcmpl-<hex>" etc.: unique in this process.
std::string NewId(ApiContext& ctx, const char* prefix);
int64_t UnixNow();

// Writes an error response in OpenAI's shape (Anthropic's for /v1/messages).
void SendError(httplib::Response& res, const ApiError& e, bool anthropic = false);
void SendJson(httplib::Response& res, const nlohmann::ordered_json& j);
std::string Dump(const nlohmann::ordered_json& j);  // invalid UTF-8 replaced, never throws

// The endpoints.
void HandleChatCompletions(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleCompletions(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleMessages(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleTokenize(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleDetokenize(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleApplyTemplate(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace shoal::server
