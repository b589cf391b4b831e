// Anthropic's POST /v1/messages body, converted into the OpenAI-shaped GenerationRequest the rest
// of the server works with (system -> a system message, tool_use -> tool_calls, tool_result ->
// tool messages, tools' input_schema -> function parameters).
#include "server/request.h"
#include "server/request_fields.h"

namespace shoal::server {
namespace {

// A content value (string, or an array of blocks) as plain text; tool_result contents too.
bool TextOf(const Json& c, const std::string& where, std::string* out, ApiError* err) {
  if (c.is_string()) {
    *out += c.get<std::string>();
    return true;
  }
  if (!c.is_array()) {
    *err = BadRequest(where + " must be a string or an array of blocks", where, "invalid_type");
    return false;
  }
  for (const Json& b : c) {
    if (!b.is_object() || b.value("type", "") != "text" || !b.contains("text") ||
        !b["text"].is_string()) {
      *err =
          BadRequest(where + ": only text blocks are supported here", where, "unsupported_content");
      return false;
    }
    *out += b["text"].get<std::string>();
  }
  return true;
}

bool ConvertMessage(const Json& m, size_t i, Json* out, ApiError* err) {
  const std::string where = "messages[" + std::to_string(i) + "]";
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")) {
    *err =
        BadRequest(where + " must be an object with 'role' and 'content'", where, "invalid_value");
    return false;
  }
  const std::string role = m["role"].get<std::string>();
  if (role != "user" && role != "assistant") {
    *err = BadRequest(where + ".role must be user or assistant", where + ".role", "invalid_value");
    return false;
  }
  const Json& c = m["content"];
  if (c.is_string()) {
    out->push_back({{"role", role}, {"content", c.get<std::string>()}});
    return true;
  }
  if (!c.is_array()) {
    *err = BadRequest(where + ".content must be a string or an array of blocks", where + ".content",
                      "invalid_type");
    return false;
  }
  std::string text;
  Json calls = Json::array();
  for (size_t k = 0; k < c.size(); ++k) {
    const Json& b = c[k];
    const std::string bw = where + ".content[" + std::to_string(k) + "]";
    const std::string type = b.is_object() ? b.value("type", "") : "";
    if (type == "text" && b.contains("text") && b["text"].is_string()) {
      text += b["text"].get<std::string>();
    } else if (type == "tool_use" && role == "assistant" && b.contains("name") &&
               b["name"].is_string()) {
      Json args = b.contains("input") ? b["input"] : Json::object();
      calls.push_back({{"id", b.value("id", "")},
                       {"type", "function"},
                       {"function", {{"name", b["name"]}, {"arguments", args}}}});
    } else if (type == "tool_result" && role == "user") {
      std::string result;
      if (b.contains("content") && !TextOf(b["content"], bw + ".content", &result, err)) {
        return false;
      }
      if (!text.empty()) {
        out->push_back({{"role", "user"}, {"content", text}});
        text.clear();
      }
      std::string id;
      if (b.contains("tool_use_id") && b["tool_use_id"].is_string()) id = b["tool_use_id"];
      out->push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", result}});
    } else if (type == "thinking" && role == "assistant") {
      continue;  // earlier turns' thinking is not sent back to the model
    } else {
      *err = BadRequest(bw + ": unsupported content block", bw, "unsupported_content");
      return false;
    }
  }
  if (!text.empty() || !calls.empty()) {
    Json n = {{"role", role}, {"content", text}};
    if (!calls.empty()) n["tool_calls"] = calls;
    out->push_back(std::move(n));
  }
  return true;
}

bool ConvertTools(const Json& o, GenerationRequest* r, ApiError* err) {
  if (Present(o, "tools")) {
    const Json& t = o["tools"];
    if (!t.is_array()) {
      *err = BadRequest("'tools' must be an array", "tools", "invalid_type");
      return false;
    }
    Json tools = Json::array();
    for (const Json& tool : t) {
      if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string()) {
        *err = BadRequest("each tool needs a string 'name'", "tools", "invalid_value");
        return false;
      }
      Json f = {{"name", tool["name"]}};
      if (tool.contains("description")) f["description"] = tool["description"];
      f["parameters"] = tool.contains("input_schema") ? tool["input_schema"] : Json::object();
      tools.push_back({{"type", "function"}, {"function", f}});
    }
    if (!tools.empty()) r->tools = tools;
  }
  if (Present(o, "tool_choice")) {
    const Json& c = o["tool_choice"];
    const std::string type = c.is_object() ? c.value("type", "") : "";
    if (type == "auto") {
      r->tool_choice = "auto";
    } else if (type == "any") {
      r->tool_choice = "required";
    } else if (type == "none") {
      r->tool_choice = "none";
      r->tools = nullptr;
    } else if (type == "tool" && c.contains("name") && c["name"].is_string()) {
      r->tool_choice = {{"type", "function"}, {"function", {{"name", c["name"]}}}};
    } else {
      *err = BadRequest("'tool_choice' must be {\"type\": auto|any|tool|none}", "tool_choice",
                        "invalid_value");
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<GenerationRequest> ParseAnthropicRequest(std::string_view body,
                                                       const ParseLimits& lim, ApiError* err) {
  std::optional<Json> j = ParseBodyObject(body, lim.max_depth, err);
  if (!j) return std::nullopt;
  const Json& o = *j;
  GenerationRequest r;
  r.kind = ApiKind::kAnthropic;
  if (!ReadString(o, "model", &r.model, err)) return std::nullopt;
  if (!Present(o, "max_tokens")) {
    *err = BadRequest("'max_tokens' is required", "max_tokens", "missing_field");
    return std::nullopt;
  }
  int64_t max_tokens = 0;
  if (!ReadInt(o, "max_tokens", 1, int64_t{1} << 30, &max_tokens, err)) return std::nullopt;
  r.max_tokens = int32_t(max_tokens);
  if (!ReadBool(o, "stream", &r.stream, err)) return std::nullopt;
  if (!ReadSampling(o, 1.0, &r.sampling, &r.seed_given, err)) return std::nullopt;
  if (Present(o, "stop_sequences")) {
    const Json& s = o["stop_sequences"];
    if (!s.is_array() || s.size() > lim.max_stop) {
      *err = BadRequest("'stop_sequences' must be an array of at most " +
                            std::to_string(lim.max_stop) + " strings",
                        "stop_sequences", "invalid_value");
      return std::nullopt;
    }
    for (const Json& x : s) {
      if (!x.is_string() || x.get_ref<const std::string&>().size() > lim.max_stop_bytes) {
        *err = BadRequest("each stop sequence must be a string of at most " +
                              std::to_string(lim.max_stop_bytes) + " bytes",
                          "stop_sequences", "invalid_value");
        return std::nullopt;
      }
      if (!x.get_ref<const std::string&>().empty()) r.stop.push_back(x.get<std::string>());
    }
  }
  Json msgs = Json::array();
  if (Present(o, "system")) {
    std::string sys;
    if (!TextOf(o["system"], "system", &sys, err)) return std::nullopt;
    msgs.push_back({{"role", "system"}, {"content", sys}});
  }
  if (!o.contains("messages") || !o["messages"].is_array() || o["messages"].empty()) {
    *err = BadRequest("'messages' must be a non-empty array", "messages", "invalid_value");
    return std::nullopt;
  }
  if (o["messages"].size() > lim.max_messages) {
    *err = BadRequest("too many messages", "messages", "invalid_value");
    return std::nullopt;
  }
  for (size_t i = 0; i < o["messages"].size(); ++i) {
    if (!ConvertMessage(o["messages"][i], i, &msgs, err)) return std::nullopt;
  }
  if (msgs.empty()) {
    *err = BadRequest("the messages have no content", "messages", "invalid_value");
    return std::nullopt;
  }
  r.messages = std::move(msgs);
  if (!ConvertTools(o, &r, err)) return std::nullopt;
  if (Present(o, "thinking") && o["thinking"].is_object()) {
    r.template_extra = {{"enable_thinking", o["thinking"].value("type", "") == "enabled"}};
  }
  return r;
}

}  // namespace shoal::server
