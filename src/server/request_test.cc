#include "server/request.h"

#include <gtest/gtest.h>

namespace shoal::server {
namespace {

const ParseLimits kLim;

std::optional<GenerationRequest> Chat(const std::string& body, ApiError* err) {
  return ParseChatRequest(body, kLim, err);
}

TEST(ChatRequest, ReadsTheOpenAiFields) {
  ApiError err;
  auto r = Chat(R"({"model": "m", "messages": [{"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
      "stream": true, "stream_options": {"include_usage": true}, "max_completion_tokens": 7,
      "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0.1, "seed": 42, "stop": ["x", "y"],
      "presence_penalty": 0.5, "frequency_penalty": -0.5, "logprobs": true, "top_logprobs": 2,
      "n": 1, "user": "ignored"})",
                &err);
  ASSERT_TRUE(r) << err.message;
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[1]["content"], "hi there");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 3);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.1f);
  EXPECT_TRUE(r->seed_given);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r->sampling.presence_penalty, 0.5f);
  EXPECT_EQ(r->sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r->top_logprobs, 2);
}

TEST(ChatRequest, DefaultsAreShoalRuns) {
  ApiError err;
  auto r = Chat(R"({"messages": [{"role": "user", "content": "x"}]})", &err);
  ASSERT_TRUE(r);
  const runtime::SamplerParams d;
  EXPECT_EQ(r->sampling.temperature, d.temperature);
  EXPECT_EQ(r->sampling.top_k, d.top_k);
  EXPECT_EQ(r->max_tokens, -1);
  EXPECT_EQ(r->top_logprobs, -1);
  EXPECT_FALSE(r->stream);
}

TEST(ChatRequest, ToolsAndToolCallsPassThrough) {
  ApiError err;
  auto r = Chat(R"({"messages": [{"role": "user", "content": "w?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get", "arguments": "{\"city\": \"Oslo\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "5C"}],
      "tools": [{"type": "function", "function": {"name": "get", "parameters": {}}}],
      "tool_choice": "auto"})",
                &err);
  ASSERT_TRUE(r) << err.message;
  EXPECT_EQ(r->tools.size(), 1u);
  EXPECT_EQ(r->messages[1]["tool_calls"][0]["function"]["arguments"]["city"], "Oslo");
  EXPECT_EQ(r->messages[2]["tool_call_id"], "c1");
}

struct BadCase {
  const char* body;
  const char* param;
};

TEST(ChatRequest, BadBodiesName400AndTheField) {
  const BadCase cases[] = {
      {"", ""},
      {"not json", ""},
      {"[1, 2]", ""},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({})", "messages"},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 2})", "n"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": 5})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream_options": {}})",
       "stream_options"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})",
       "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web"}]})", "tools"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "always"})",
       "tool_choice"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       "response_format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "seed": 1e30})", "seed"},
      {R"({"messages": [{"role": "user", "content": "x"}], "model": 7})", "model"},
  };
  for (const BadCase& c : cases) {
    ApiError err;
    EXPECT_FALSE(Chat(c.body, &err)) << c.body;
    EXPECT_EQ(err.http_status, 400) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
    EXPECT_FALSE(err.message.empty()) << c.body;
  }
}

TEST(CompletionRequest, PromptShapes) {
  ApiError err;
  auto r = ParseCompletionRequest(R"({"prompt": "abc"})", kLim, &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt_text, "abc");
  EXPECT_EQ(r->max_tokens, 16);  // OpenAI's default for completions
  r = ParseCompletionRequest(R"({"prompt": ["abc"], "logprobs": 2})", kLim, &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt_text, "abc");
  EXPECT_EQ(r->top_logprobs, 2);
  r = ParseCompletionRequest(R"({"prompt": [1, 2, 3]})", kLim, &err);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->prompt_is_tokens);
  EXPECT_EQ(r->prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  r = ParseCompletionRequest(R"({"prompt": [[4, 5]]})", kLim, &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prompt_tokens, (std::vector<int32_t>{4, 5}));
  for (const char* bad : {R"({"prompt": ["a", "b"]})", R"({"prompt": [-1]})", R"({"prompt": 5})",
                          R"({"prompt": "a", "echo": true})", R"({"prompt": "a", "best_of": 2})",
                          R"({"prompt": "a", "suffix": "z"})", R"({})"}) {
    EXPECT_FALSE(ParseCompletionRequest(bad, kLim, &err)) << bad;
    EXPECT_EQ(err.http_status, 400);
  }
}

TEST(AnthropicRequest, ConvertsToChatMessages) {
  ApiError err;
  auto r = ParseAnthropicRequest(R"({"model": "m", "max_tokens": 5, "system": "sys",
      "stop_sequences": ["END"], "temperature": 0.5,
      "messages": [{"role": "user", "content": "q"},
                   {"role": "assistant", "content": [{"type": "text", "text": "t"},
                      {"type": "tool_use", "id": "tu1", "name": "f", "input": {"a": 1}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1",
                      "content": "r"}]}],
      "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]})",
                                 kLim, &err);
  ASSERT_TRUE(r) << err.message;
  EXPECT_EQ(r->max_tokens, 5);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"END"}));
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0]["role"], "system");
  EXPECT_EQ(r->messages[2]["tool_calls"][0]["function"]["arguments"]["a"], 1);
  EXPECT_EQ(r->messages[3]["role"], "tool");
  EXPECT_EQ(r->messages[3]["tool_call_id"], "tu1");
  EXPECT_EQ(r->tools[0]["function"]["parameters"]["type"], "object");
  EXPECT_FALSE(
      ParseAnthropicRequest(R"({"messages": [{"role": "user", "content": "q"}]})", kLim, &err));
  EXPECT_EQ(err.param, "max_tokens");
  EXPECT_FALSE(ParseAnthropicRequest(
      R"({"max_tokens": 1, "temperature": 1.5, "messages": [{"role": "user", "content": "q"}]})",
      kLim, &err));
  EXPECT_EQ(err.param, "temperature");
}

TEST(Json, DepthIsBoundedBeforeParsing) {
  EXPECT_TRUE(JsonDepthWithin("[[1]]", 2));
  EXPECT_FALSE(JsonDepthWithin("[[[1]]]", 2));
  EXPECT_TRUE(JsonDepthWithin(R"(["[[[[[["])", 2));  // brackets inside strings do not count
  EXPECT_TRUE(JsonDepthWithin(R"(["\"[[[[", 1])", 1));
  const std::string deep(1 << 20, '[');
  ApiError err;
  EXPECT_FALSE(ParseChatRequest(deep, kLim, &err));
  EXPECT_EQ(err.http_status, 400);
}

}  // namespace
}  // namespace shoal::server
