// POST /v1/chat/completions and POST /v1/completions, non-streaming and streaming (SSE).
#include <httplib.h>

#include <optional>

#include "model/chat_output.h"
#include "server/api.h"
#include "server/sse.h"

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

Json Usage(const runtime::GenerationResult& r, int32_t completion_tokens) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", r.prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

Json Bytes(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

// choices[0].logprobs.content entries of the chat API.
Json ChatLogprobs(const model::Tokenizer& tok, const std::vector<TokenOut>& tokens) {
  Json content = Json::array();
  for (const TokenOut& t : tokens) {
    const std::string piece = tok.TokenToPiece(t.token);
    Json top = Json::array();
    for (const runtime::TokenLogprob& a : t.top) {
      const std::string p = tok.TokenToPiece(a.token);
      top.push_back({{"token", p}, {"logprob", a.logprob}, {"bytes", Bytes(p)}});
    }
    content.push_back(
        {{"token", piece}, {"logprob", t.logprob}, {"bytes", Bytes(piece)}, {"top_logprobs", top}});
  }
  return content;
}

// The legacy completions API's logprobs object; text_offset counts from `offset`.
Json CompletionLogprobs(const model::Tokenizer& tok, const std::vector<TokenOut>& tokens,
                        size_t* offset) {
  Json j = {{"tokens", Json::array()},
            {"token_logprobs", Json::array()},
            {"top_logprobs", Json::array()},
            {"text_offset", Json::array()}};
  for (const TokenOut& t : tokens) {
    const std::string piece = tok.TokenToPiece(t.token);
    j["tokens"].push_back(piece);
    j["token_logprobs"].push_back(t.logprob);
    Json top = Json::object();
    for (const runtime::TokenLogprob& a : t.top) top[tok.TokenToPiece(a.token)] = a.logprob;
    j["top_logprobs"].push_back(top);
    j["text_offset"].push_back(*offset);
    *offset += piece.size();
  }
  return j;
}

ApiError EndError(const Chunk& c) {
  ApiError e;
  e.http_status = 500;
  e.type = "server_error";
  e.message = c.finish_reason == "error" ? "generation failed: " + c.result.status.ToString()
                                         : "the request was cancelled (the server is stopping)";
  return e;
}

// Output text -> deltas: through the template's parser (reasoning, tool calls), or as content.
class OutputSplitter {
 public:
  OutputSplitter(const ApiContext& ctx, const GenerationRequest& r, const PreparedPrompt& p,
                 const std::string& id) {
    if (ctx.chat_template == nullptr || r.kind == ApiKind::kCompletion) return;
    model::ChatParseOptions o =
        model::ChatParseOptionsFor(*ctx.chat_template, p.rendered, !r.tools.is_null());
    o.id_prefix = "call_" + id.substr(id.size() > 8 ? id.size() - 8 : 0) + "_";
    parser_.emplace(*ctx.chat_template, o);
  }
  std::vector<model::ChatDelta> Push(const std::string& text, bool done) {
    std::vector<model::ChatDelta> out;
    if (!parser_) {
      if (!text.empty()) {
        model::ChatDelta d;
        d.content = text;
        out.push_back(std::move(d));
      }
      return out;
    }
    if (!text.empty()) out = parser_->Push(text);
    if (done) {
      std::vector<model::ChatDelta> f = parser_->Finish();
      out.insert(out.end(), f.begin(), f.end());
    }
    return out;
  }

 private:
  std::optional<model::ChatOutputParser> parser_;
};

Json ToolCallDeltaJson(const model::ToolCallDelta& d) {
  Json j = {{"index", d.index}};
  if (!d.id.empty()) j["id"] = d.id;
  if (!d.id.empty() || !d.name.empty()) j["type"] = "function";
  Json f = Json::object();
  if (!d.name.empty()) f["name"] = d.name;
  f["arguments"] = d.arguments;
  j["function"] = f;
  return j;
}

struct Common {
  std::string id;
  int64_t created = 0;
  std::string model;
  Json Head(const char* object) const {
    return {{"id", id},
            {"object", object},
            {"created", created},
            {"model", model},
            {"system_fingerprint", "shoal"}};
  }
};

void Generate(ApiContext& ctx, const GenerationRequest& r, const httplib::Request& req,
              httplib::Response& res) {
  const bool chat = r.kind == ApiKind::kChat;
  ApiError err;
  if (!CheckModel(ctx, r.model, &err)) return SendError(res, err);
  std::optional<PreparedPrompt> p = PreparePrompt(ctx, r, &err);
  if (!p) return SendError(res, err);
  std::shared_ptr<Generation> gen = StartGeneration(ctx, r, *p, &err);
  if (!gen) return SendError(res, err);
  Common c{NewId(ctx, chat ? "chatcmpl-" : "cmpl-"), UnixNow(), ctx.model_id};
  auto split = std::make_shared<OutputSplitter>(ctx, r, *p, c.id);
  const model::Tokenizer& tok = *ctx.tokenizer;
  const bool want_logprobs = r.top_logprobs >= 0;

  if (!r.stream) {
    model::ChatMessage msg;
    std::string text;
    std::vector<TokenOut> tokens;
    Chunk ch;
    int32_t n_tokens = 0;
    for (;;) {
      if (!gen->Wait(&ch, 1000)) continue;
      n_tokens += int32_t(ch.tokens.size());
      if (want_logprobs) tokens.insert(tokens.end(), ch.tokens.begin(), ch.tokens.end());
      if (chat) {
        model::MergeDeltas(split->Push(ch.text, ch.done), &msg);
      } else {
        text += ch.text;
      }
      if (ch.done) break;
    }
    ctx.metrics->CountGeneration(ch.result);
    if (ch.finish_reason == "error" || ch.finish_reason == "cancelled") {
      return SendError(res, EndError(ch));
    }
    Json j = c.Head(chat ? "chat.completion" : "text_completion");
    Json choice = {{"index", 0}};
    std::string finish = ch.finish_reason;
    if (chat) {
      Json m = {{"role", "assistant"}};
      m["content"] = msg.content.empty() && !msg.tool_calls.empty() ? Json() : Json(msg.content);
      if (!msg.reasoning.empty()) m["reasoning_content"] = msg.reasoning;
      if (!msg.tool_calls.empty()) {
        Json calls = Json::array();
        for (const model::ToolCall& tc : msg.tool_calls) {
          calls.push_back({{"id", tc.id},
                           {"type", "function"},
                           {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}});
        }
        m["tool_calls"] = calls;
        finish = "tool_calls";
      }
      choice["message"] = m;
      choice["logprobs"] = want_logprobs ? Json{{"content", ChatLogprobs(tok, tokens)}} : Json();
    } else {
      choice["text"] = text;
      size_t offset = 0;
      choice["logprobs"] = want_logprobs ? CompletionLogprobs(tok, tokens, &offset) : Json();
    }
    choice["finish_reason"] = finish;
    j["choices"] = Json::array({choice});
    j["usage"] = Usage(ch.result, n_tokens);
    return SendJson(res, j);
  }

  // Streaming.
  const bool include_usage = r.include_usage;
  ApiContext* pctx = &ctx;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [pctx, gen, split, c, chat, include_usage, want_logprobs](size_t, httplib::DataSink& sink) {
        ApiContext& ctx = *pctx;
        const model::Tokenizer& tok = *ctx.tokenizer;
        const char* object = chat ? "chat.completion.chunk" : "text_completion";
        auto chunk = [&](Json choice) {
          Json j = c.Head(object);
          j["choices"] = Json::array({std::move(choice)});
          if (include_usage) j["usage"] = nullptr;
          return j;
        };
        auto gone = [&] {
          gen->Cancel();
          ctx.metrics->CountDisconnect();
          return false;
        };
        if (chat && !SseData(sink, Dump(chunk({{"index", 0},
                                               {"delta", {{"role", "assistant"}, {"content", ""}}},
                                               {"logprobs", nullptr},
                                               {"finish_reason", nullptr}})))) {
          return gone();
        }
        bool tool_calls = false;
        int32_t n_tokens = 0;
        size_t offset = 0;
        for (;;) {
          Chunk ch;
          if (!gen->Wait(&ch, 1000)) {
            if (!SseComment(sink, "keep-alive")) return gone();
            continue;
          }
          n_tokens += int32_t(ch.tokens.size());
          Json lp = nullptr;
          if (want_logprobs && !ch.tokens.empty()) {
            lp = chat ? Json{{"content", ChatLogprobs(tok, ch.tokens)}}
                      : CompletionLogprobs(tok, ch.tokens, &offset);
          }
          if (chat) {
            std::vector<model::ChatDelta> ds = split->Push(ch.text, ch.done);
            if (ds.empty() && !lp.is_null()) ds.push_back({});
            for (const model::ChatDelta& d : ds) {
              Json delta = Json::object();
              if (!d.content.empty() || (d.reasoning.empty() && d.tool_calls.empty())) {
                delta["content"] = d.content;
              }
              if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
              if (!d.tool_calls.empty()) {
                tool_calls = true;
                Json calls = Json::array();
                for (const model::ToolCallDelta& t : d.tool_calls)
                  calls.push_back(ToolCallDeltaJson(t));
                delta["tool_calls"] = calls;
              }
              Json choice = {
                  {"index", 0}, {"delta", delta}, {"logprobs", lp}, {"finish_reason", nullptr}};
              lp = nullptr;
              if (!SseData(sink, Dump(chunk(choice)))) return gone();
            }
          } else if (!ch.text.empty() || !lp.is_null()) {
            Json choice = {
                {"text", ch.text}, {"index", 0}, {"logprobs", lp}, {"finish_reason", nullptr}};
            if (!SseData(sink, Dump(chunk(choice)))) return gone();
          }
          if (!ch.done) continue;
          ctx.metrics->CountGeneration(ch.result);
          if (ch.finish_reason == "error" || ch.finish_reason == "cancelled") {
            SseData(sink, OpenAiErrorJson(EndError(ch)));
            sink.done();
            return true;
          }
          const std::string finish = tool_calls ? "tool_calls" : ch.finish_reason;
          Json last = chat ? Json{{"index", 0},
                                  {"delta", Json::object()},
                                  {"logprobs", nullptr},
                                  {"finish_reason", finish}}
                           : Json{{"text", ""},
                                  {"index", 0},
                                  {"logprobs", nullptr},
                                  {"finish_reason", finish}};
          if (!SseData(sink, Dump(chunk(last)))) return gone();
          if (include_usage) {
            Json u = c.Head(object);
            u["choices"] = Json::array();
            u["usage"] = Usage(ch.result, n_tokens);
            if (!SseData(sink, Dump(u))) return gone();
          }
          if (!SseData(sink, "[DONE]")) return gone();
          sink.done();
          return true;
        }
      },
      [gen](bool success) {
        if (!success) gen->Cancel();
      });
}

}  // namespace

void HandleChatCompletions(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<GenerationRequest> r = ParseChatRequest(req.body, ctx.limits, &err);
  if (!r) return SendError(res, err);
  Generate(ctx, *r, req, res);
}

void HandleCompletions(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<GenerationRequest> r = ParseCompletionRequest(req.body, ctx.limits, &err);
  if (!r) return SendError(res, err);
  Generate(ctx, *r, req, res);
}

}  // namespace shoal::server
