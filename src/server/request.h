// Parsing and validating request bodies into one GenerationRequest, whichever API they came
// through (OpenAI chat / completions, Anthropic messages). Pure functions of the body text: every
// malformed, oversized or ill-typed body gives an ApiError (4xx), never an exception or a crash.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"
#include "server/api_error.h"

namespace shoal::server {

enum class ApiKind : uint8_t { kChat, kCompletion, kAnthropic };

struct GenerationRequest {
  ApiKind kind = ApiKind::kChat;
  std::string model;  // as sent (empty when absent)
  // kChat / kAnthropic: OpenAI-shaped messages ({"role", "content": string, ["tool_calls"],
  // ["tool_call_id"], ["reasoning_content"], ["name"]}), ready for the chat template.
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;           // null, or an array of OpenAI tool objects
  nlohmann::ordered_json tool_choice;     // null, "none", "auto", "required" or an object
  nlohmann::ordered_json template_extra;  // chat_template_kwargs: an object (or null)
  // kCompletion: the prompt as text, or as token ids when prompt_is_tokens.
  std::string prompt_text;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t max_tokens = -1;     // -1: until the context is full
  runtime::SamplerParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  int32_t top_logprobs = -1;  // -1: no logprobs
  bool ignore_eos = false;    // llama-server's extension
};

struct ParseLimits {
  int max_depth = 64;           // JSON nesting
  size_t max_stop = 16;         // stop strings
  size_t max_stop_bytes = 256;  // each
  size_t max_messages = 4096;
  size_t max_prompt_tokens = 1 << 20;  // token-id prompts
};

// Body -> request; std::nullopt and *err set on a bad request.
std::optional<GenerationRequest> ParseChatRequest(std::string_view body, const ParseLimits& lim,
                                                  ApiError* err);
std::optional<GenerationRequest> ParseCompletionRequest(std::string_view body,
                                                        const ParseLimits& lim, ApiError* err);
std::optional<GenerationRequest> ParseAnthropicRequest(std::string_view body,
                                                       const ParseLimits& lim, ApiError* err);

// The JSON body as an object: bounded nesting (checked before parsing, so a deep body cannot
// exhaust the stack), well-formed, an object at the top.
std::optional<nlohmann::ordered_json> ParseBodyObject(std::string_view body, int max_depth,
                                                      ApiError* err);
// True when no array/object in `text` nests deeper than max_depth (strings are skipped).
bool JsonDepthWithin(std::string_view text, int max_depth);

// Reads the OpenAI messages array into template-ready messages (content parts joined).
std::optional<nlohmann::ordered_json> NormalizeChatMessages(const nlohmann::ordered_json& msgs,
                                                            const ParseLimits& lim, ApiError* err);

}  // namespace shoal::server
