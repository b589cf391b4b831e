// A property test of the request parsers: random bodies, valid bodies with random byte mutations,
// and valid bodies with random values of random types put under the fields the API knows. Each
// either parses into a request within the documented bounds or gives a 4xx with a message; none
// throws or crashes.
#include <gtest/gtest.h>

#include <random>

#include "server/request.h"

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

const char* kSeeds[] = {
    R"({"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8,
        "temperature": 0.7, "stop": ["\n", "END"], "stream": true,
        "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2})",
    R"({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": null,
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f",
        "arguments": "{\"x\": [1, 2]}"}}]}, {"role": "tool", "tool_call_id": "1",
        "content": [{"type": "text", "text": "r"}]}], "tools": [{"type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}}}], "tool_choice": "auto"})",
    R"({"prompt": "once upon", "max_tokens": 4, "logprobs": 3, "seed": -5, "top_k": 4})",
    R"({"prompt": [[1, 2, 3]], "stop": "x", "min_p": 0.2, "n": 1})",
    R"({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "s"}],
        "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
        "content": [{"type": "text", "text": "r"}]}]}], "stop_sequences": ["a"],
        "tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "any"}})",
};

const char* kKeys[] = {"model",
                       "messages",
                       "prompt",
                       "max_tokens",
                       "max_completion_tokens",
                       "temperature",
                       "top_p",
                       "top_k",
                       "min_p",
                       "seed",
                       "stop",
                       "stream",
                       "stream_options",
                       "n",
                       "logprobs",
                       "top_logprobs",
                       "tools",
                       "tool_choice",
                       "presence_penalty",
                       "frequency_penalty",
                       "system",
                       "stop_sequences",
                       "response_format",
                       "chat_template_kwargs",
                       "echo",
                       "best_of",
                       "ignore_eos"};

Json RandomValue(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 3 ? 7 : 9)) {
    case 0:
      return nullptr;
    case 1:
      return bool(rng() & 1);
    case 2:
      return int64_t(rng()) >> (rng() % 64);
    case 3:
      return std::ldexp(double(int64_t(rng())), -int(rng() % 80));
    case 4:
      return uint64_t(rng());
    case 5: {
      std::string s;
      const int n = int(rng() % 12);
      for (int i = 0; i < n; ++i) s += char(rng() % 256);
      return s;
    }
    case 6:
      return std::string(rng() % 2 ? "user" : "text");
    case 7: {
      Json a = Json::array();
      const int n = int(rng() % 4);
      for (int i = 0; i < n; ++i) a.push_back(RandomValue(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      const int n = int(rng() % 4);
      for (int i = 0; i < n; ++i) {
        o[rng() % 2 ? kKeys[rng() % std::size(kKeys)] : (rng() % 2 ? "role" : "content")] =
            RandomValue(rng, depth + 1);
      }
      return o;
    }
  }
}

void CheckOutcome(const std::optional<GenerationRequest>& r, const ApiError& err,
                  const std::string& body) {
  if (!r) {
    ASSERT_GE(err.http_status, 400) << body;
    ASSERT_LT(err.http_status, 500) << body;
    ASSERT_FALSE(err.message.empty()) << body;
    return;
  }
  ASSERT_TRUE(r->max_tokens == -1 || r->max_tokens >= 1) << body;
  ASSERT_GE(r->top_logprobs, -1);
  ASSERT_LE(r->top_logprobs, 20);
  ASSERT_LE(r->stop.size(), ParseLimits{}.max_stop);
  ASSERT_GE(r->sampling.temperature, 0.0f);
  if (r->kind != ApiKind::kCompletion) {
    ASSERT_TRUE(r->messages.is_array());
    ASSERT_FALSE(r->messages.empty());
    for (const Json& m : r->messages) ASSERT_TRUE(m["content"].is_string()) << body;
  } else if (r->prompt_is_tokens) {
    ASSERT_FALSE(r->prompt_tokens.empty());
  }
}

void ParseAll(const std::string& body) {
  const ParseLimits lim;
  ApiError e1, e2, e3;
  std::optional<GenerationRequest> r;
  ASSERT_NO_THROW(r = ParseChatRequest(body, lim, &e1)) << body;
  CheckOutcome(r, e1, body);
  ASSERT_NO_THROW(r = ParseCompletionRequest(body, lim, &e2)) << body;
  CheckOutcome(r, e2, body);
  ASSERT_NO_THROW(r = ParseAnthropicRequest(body, lim, &e3)) << body;
  CheckOutcome(r, e3, body);
}

TEST(RequestFuzz, RandomBytes) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int n = int(rng() % 64);
    for (int k = 0; k < n; ++k) s += "{}[]\",:0123456789.eE-+truefalsnl \\u"[rng() % 36];
    ParseAll(s);
    if (HasFatalFailure()) return;
  }
}

TEST(RequestFuzz, MutatedSeeds) {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 6000; ++i) {
    std::string s = kSeeds[rng() % std::size(kSeeds)];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s[at] = char(rng() % 256);
          break;
        case 1:
          s.erase(at, 1 + rng() % 8);
          break;
        case 2:
          s.insert(at, 1, "{}[]\",:0-"[rng() % 9]);
          break;
        default:
          s.resize(at);
          break;
      }
    }
    ParseAll(s);
    if (HasFatalFailure()) return;
  }
}

TEST(RequestFuzz, WrongTypesUnderKnownFields) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 6000; ++i) {
    Json j = Json::parse(kSeeds[rng() % std::size(kSeeds)]);
    const int edits = 1 + int(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const char* key = kKeys[rng() % std::size(kKeys)];
      Json* msg = nullptr;
      if (j.contains("messages") && j["messages"].is_array() && !j["messages"].empty()) {
        Json& m = j["messages"][rng() % j["messages"].size()];
        if (m.is_object()) msg = &m;
      }
      if (rng() % 3 == 0 && msg != nullptr) {
        (*msg)[rng() % 2 ? "content" : "role"] = RandomValue(rng, 1);
      } else {
        j[key] = RandomValue(rng, 0);
      }
    }
    ParseAll(j.dump(-1, ' ', false, Json::error_handler_t::replace));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace shoal::server
