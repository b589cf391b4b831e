// Anthropic's POST /v1/messages on the same engine: a message with content blocks (thinking,
// text, tool_use), or the SSE event sequence message_start, content_block_start /
// content_block_delta / content_block_stop per block, message_delta, message_stop.
#include <httplib.h>

#include "model/chat_output.h"
#include "server/api.h"
#include "server/sse.h"

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

std::string StopReason(const Chunk& c, bool tool_use) {
  if (tool_use) return "tool_use";
  if (!c.stop_string.empty()) return "stop_sequence";
  if (c.finish_reason == "length") return "max_tokens";
  return "end_turn";
}

Json ParseInput(const std::string& args) {
  Json j = Json::parse(args, nullptr, false);
  return j.is_object() ? j : Json::object();
}

Json Usage(int64_t input, int64_t output, int64_t cached) {
  return {{"input_tokens", input}, {"output_tokens", output}, {"cache_read_input_tokens", cached}};
}

std::unique_ptr<model::ChatOutputParser> MakeParser(const ApiContext& ctx,
                                                    const GenerationRequest& r,
                                                    const PreparedPrompt& p,
                                                    const std::string& id) {
  model::ChatParseOptions o =
      model::ChatParseOptionsFor(*ctx.chat_template, p.rendered, !r.tools.is_null());
  o.id_prefix = "toolu_" + id.substr(id.size() > 8 ? id.size() - 8 : 0) + "_";
  return std::make_unique<model::ChatOutputParser>(*ctx.chat_template, o);
}

// The streaming side: opens and closes content blocks as the kind of output changes.
class BlockWriter {
 public:
  explicit BlockWriter(httplib::DataSink& sink) : sink_(sink) {}
  bool Write(const model::ChatDelta& d) {
    if (!d.reasoning.empty()) {
      if (!Open("thinking", -1, "", "")) return false;
      if (!Delta({{"type", "thinking_delta"}, {"thinking", d.reasoning}})) return false;
    }
    if (!d.content.empty()) {
      if (!Open("text", -1, "", "")) return false;
      if (!Delta({{"type", "text_delta"}, {"text", d.content}})) return false;
    }
    for (const model::ToolCallDelta& t : d.tool_calls) {
      if (!Open("tool_use", t.index, t.id, t.name)) return false;
      if (!t.arguments.empty() &&
          !Delta({{"type", "input_json_delta"}, {"partial_json", t.arguments}})) {
        return false;
      }
      tool_use_ = true;
    }
    return true;
  }
  bool Close() {
    if (kind_.empty()) return true;
    kind_.clear();
    return SseEvent(sink_, "content_block_stop",
                    Dump({{"type", "content_block_stop"}, {"index", index_}}));
  }
  bool tool_use() const { return tool_use_; }

 private:
  bool Open(const std::string& kind, int tool, const std::string& id, const std::string& name) {
    if (kind == kind_ && tool == tool_) return true;
    if (!Close()) return false;
    ++index_;
    kind_ = kind;
    tool_ = tool;
    Json block;
    if (kind == "thinking") block = {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}};
    if (kind == "text") block = {{"type", "text"}, {"text", ""}};
    if (kind == "tool_use")
      block = {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", Json::object()}};
    return SseEvent(
        sink_, "content_block_start",
        Dump({{"type", "content_block_start"}, {"index", index_}, {"content_block", block}}));
  }
  bool Delta(Json delta) {
    return SseEvent(sink_, "content_block_delta",
                    Dump({{"type", "content_block_delta"}, {"index", index_}, {"delta", delta}}));
  }
  httplib::DataSink& sink_;
  std::string kind_;
  int tool_ = -1;
  int index_ = -1;
  bool tool_use_ = false;
};

}  // namespace

void HandleMessages(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<GenerationRequest> r = ParseAnthropicRequest(req.body, ctx.limits, &err);
  if (!r) return SendError(res, err, true);
  if (!CheckModel(ctx, r->model, &err)) return SendError(res, err, true);
  std::optional<PreparedPrompt> p = PreparePrompt(ctx, *r, &err);
  if (!p) return SendError(res, err, true);
  std::shared_ptr<Generation> gen = StartGeneration(ctx, *r, *p, &err);
  if (!gen) return SendError(res, err, true);
  const std::string id = NewId(ctx, "msg_");
  std::shared_ptr<model::ChatOutputParser> parser = MakeParser(ctx, *r, *p, id);
  const int64_t n_prompt = int64_t(p->tokens.size());

  if (!r->stream) {
    model::ChatMessage msg;
    Chunk ch;
    int64_t n_tokens = 0;
    for (;;) {
      if (!gen->Wait(&ch, 1000)) continue;
      n_tokens += int64_t(ch.tokens.size());
      if (!ch.text.empty()) model::MergeDeltas(parser->Push(ch.text), &msg);
      if (ch.done) break;
    }
    model::MergeDeltas(parser->Finish(), &msg);
    ctx.metrics->CountGeneration(ch.result);
    if (ch.finish_reason == "error" || ch.finish_reason == "cancelled") {
      ApiError e;
      e.http_status = 500;
      e.type = "api_error";
      e.message = "generation failed: " + ch.result.status.ToString();
      return SendError(res, e, true);
    }
    Json content = Json::array();
    if (!msg.reasoning.empty())
      content.push_back({{"type", "thinking"}, {"thinking", msg.reasoning}, {"signature", ""}});
    if (!msg.content.empty()) content.push_back({{"type", "text"}, {"text", msg.content}});
    for (const model::ToolCall& t : msg.tool_calls) {
      content.push_back({{"type", "tool_use"},
                         {"id", t.id},
                         {"name", t.name},
                         {"input", ParseInput(t.arguments)}});
    }
    Json j = {{"id", id},
              {"type", "message"},
              {"role", "assistant"},
              {"model", ctx.model_id},
              {"content", content},
              {"stop_reason", StopReason(ch, !msg.tool_calls.empty())},
              {"stop_sequence", ch.stop_string.empty() ? Json() : Json(ch.stop_string)},
              {"usage", Usage(ch.result.prompt_tokens, n_tokens, ch.result.cached_tokens)}};
    return SendJson(res, j);
  }

  ApiContext* pctx = &ctx;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [pctx, gen, parser, id, n_prompt](size_t, httplib::DataSink& sink) {
        ApiContext& ctx = *pctx;
        auto gone = [&] {
          gen->Cancel();
          ctx.metrics->CountDisconnect();
          return false;
        };
        Json start = {{"type", "message_start"},
                      {"message",
                       {{"id", id},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"content", Json::array()},
                        {"model", ctx.model_id},
                        {"stop_reason", nullptr},
                        {"stop_sequence", nullptr},
                        {"usage", Usage(n_prompt, 0, 0)}}}};
        if (!SseEvent(sink, "message_start", Dump(start))) return gone();
        BlockWriter blocks(sink);
        int64_t n_tokens = 0;
        for (;;) {
          Chunk ch;
          if (!gen->Wait(&ch, 1000)) {
            if (!SseEvent(sink, "ping", "{\"type\": \"ping\"}")) return gone();
            continue;
          }
          n_tokens += int64_t(ch.tokens.size());
          std::vector<model::ChatDelta> ds;
          if (!ch.text.empty()) ds = parser->Push(ch.text);
          if (ch.done) {
            std::vector<model::ChatDelta> f = parser->Finish();
            ds.insert(ds.end(), f.begin(), f.end());
          }
          for (const model::ChatDelta& d : ds) {
            if (!blocks.Write(d)) return gone();
          }
          if (!ch.done) continue;
          ctx.metrics->CountGeneration(ch.result);
          if (ch.finish_reason == "error" || ch.finish_reason == "cancelled") {
            ApiError e;
            e.http_status = 500;
            e.type = "api_error";
            e.message = "generation failed: " + ch.result.status.ToString();
            SseEvent(sink, "error", AnthropicErrorJson(e));
            sink.done();
            return true;
          }
          if (!blocks.Close()) return gone();
          Json md = {{"type", "message_delta"},
                     {"delta",
                      {{"stop_reason", StopReason(ch, blocks.tool_use())},
                       {"stop_sequence", ch.stop_string.empty() ? Json() : Json(ch.stop_string)}}},
                     {"usage", {{"output_tokens", n_tokens}}}};
          if (!SseEvent(sink, "message_delta", Dump(md))) return gone();
          if (!SseEvent(sink, "message_stop", "{\"type\":\"message_stop\"}")) return gone();
          sink.done();
          return true;
        }
      },
      [gen](bool success) {
        if (!success) gen->Cancel();
      });
}

}  // namespace shoal::server
