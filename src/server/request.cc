// OpenAI chat / completions bodies (the Anthropic one is in anthropic_request.cc).
#include "server/request.h"

#include "server/request_fields.h"

namespace shoal::server {
namespace {

// stop: a string or an array of strings (OpenAI: up to 4; we take up to lim.max_stop).
bool ReadStop(const Json& o, const char* key, const ParseLimits& lim, std::vector<std::string>* out,
              ApiError* err) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  auto add = [&](const Json& s) {
    if (!s.is_string()) {
      *err = BadRequest(std::string("'") + key + "' must be a string or an array of strings", key,
                        "invalid_type");
      return false;
    }
    std::string v = s.get<std::string>();
    if (v.size() > lim.max_stop_bytes) {
      *err = BadRequest(std::string("each of '") + key + "' may have at most " +
                            std::to_string(lim.max_stop_bytes) + " bytes",
                        key, "invalid_value");
      return false;
    }
    if (!v.empty()) out->push_back(std::move(v));
    return true;
  };
  if (it->is_array()) {
    if (it->size() > lim.max_stop) {
      *err = BadRequest(std::string("'") + key + "' may list at most " +
                            std::to_string(lim.max_stop) + " strings",
                        key, "invalid_value");
      return false;
    }
    for (const Json& s : *it) {
      if (!add(s)) return false;
    }
    return true;
  }
  return add(*it);
}

// The fields chat and completions share.
bool ReadCommon(const Json& o, const ParseLimits& lim, GenerationRequest* r, ApiError* err) {
  if (!ReadString(o, "model", &r->model, err)) return false;
  if (!ReadBool(o, "stream", &r->stream, err)) return false;
  if (Present(o, "stream_options")) {
    const Json& so = o["stream_options"];
    if (!so.is_object()) {
      *err = BadRequest("'stream_options' must be an object", "stream_options", "invalid_type");
      return false;
    }
    if (!r->stream) {
      *err = BadRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
      return false;
    }
    if (!ReadBool(so, "include_usage", &r->include_usage, err)) return false;
  }
  int64_t n = 1;
  if (!ReadInt(o, "n", 1, 128, &n, err)) return false;
  if (n != 1) {
    *err = BadRequest("only n = 1 is supported", "n", "unsupported_value");
    return false;
  }
  int64_t max_tokens = r->max_tokens;
  if (!ReadInt(o, "max_tokens", 1, int64_t{1} << 30, &max_tokens, err)) return false;
  if (!ReadInt(o, "max_completion_tokens", 1, int64_t{1} << 30, &max_tokens, err)) return false;
  r->max_tokens = int32_t(max_tokens);
  if (!ReadSampling(o, 2.0, &r->sampling, &r->seed_given, err)) return false;
  if (!ReadStop(o, "stop", lim, &r->stop, err)) return false;
  if (!ReadBool(o, "ignore_eos", &r->ignore_eos, err)) return false;
  return true;
}

bool ReadTools(const Json& o, GenerationRequest* r, ApiError* err) {
  if (Present(o, "tools")) {
    const Json& t = o["tools"];
    if (!t.is_array()) {
      *err = BadRequest("'tools' must be an array", "tools", "invalid_type");
      return false;
    }
    for (const Json& tool : t) {
      if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
          !tool["function"].is_object() || !tool["function"].contains("name") ||
          !tool["function"]["name"].is_string()) {
        *err =
            BadRequest("each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                       "tools", "invalid_value");
        return false;
      }
    }
    if (!t.empty()) r->tools = t;
  }
  if (Present(o, "tool_choice")) {
    const Json& c = o["tool_choice"];
    const bool ok_string = c.is_string() && (c == "none" || c == "auto" || c == "required");
    if (!ok_string && !c.is_object()) {
      *err = BadRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or an object",
                        "tool_choice", "invalid_value");
      return false;
    }
    r->tool_choice = c;
    if (c == "none") r->tools = nullptr;  // the model is not offered any tool
  }
  return true;
}

}  // namespace

bool JsonDepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

std::optional<Json> ParseBodyObject(std::string_view body, int max_depth, ApiError* err) {
  if (!JsonDepthWithin(body, max_depth)) {
    *err = BadRequest("the JSON body nests deeper than " + std::to_string(max_depth) + " levels",
                      "", "invalid_json");
    return std::nullopt;
  }
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *err = BadRequest("the body is not valid JSON", "", "invalid_json");
    return std::nullopt;
  }
  if (!j.is_object()) {
    *err = BadRequest("the body must be a JSON object", "", "invalid_json");
    return std::nullopt;
  }
  return j;
}

std::optional<Json> NormalizeChatMessages(const Json& msgs, const ParseLimits& lim, ApiError* err) {
  if (!msgs.is_array() || msgs.empty()) {
    *err = BadRequest("'messages' must be a non-empty array", "messages", "invalid_value");
    return std::nullopt;
  }
  if (msgs.size() > lim.max_messages) {
    *err = BadRequest("too many messages (at most " + std::to_string(lim.max_messages) + ")",
                      "messages", "invalid_value");
    return std::nullopt;
  }
  Json out = Json::array();
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Json& m = msgs[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      *err = BadRequest(where + " must be an object with a string 'role'", where, "invalid_value");
      return std::nullopt;
    }
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      *err = BadRequest(where + ".role must be system, developer, user, assistant or tool",
                        where + ".role", "invalid_value");
      return std::nullopt;
    }
    Json n = Json::object();
    n["role"] = role;
    std::string content;
    auto c = m.find("content");
    if (c == m.end() || c->is_null()) {
      if (role != "assistant") {
        *err = BadRequest(where + ".content is required", where + ".content", "invalid_value");
        return std::nullopt;
      }
    } else if (c->is_string()) {
      content = c->get<std::string>();
    } else if (c->is_array()) {
      for (const Json& part : *c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          *err = BadRequest(where + ".content: only text parts are supported", where + ".content",
                            "unsupported_content");
          return std::nullopt;
        }
        content += part["text"].get<std::string>();
      }
    } else {
      *err = BadRequest(where + ".content must be a string or an array of text parts",
                        where + ".content", "invalid_type");
      return std::nullopt;
    }
    n["content"] = content;
    for (const char* key : {"name", "tool_call_id", "reasoning_content"}) {
      if (Present(m, key)) {
        if (!m[key].is_string()) {
          *err = BadRequest(where + "." + key + " must be a string", where + "." + key,
                            "invalid_type");
          return std::nullopt;
        }
        n[key] = m[key];
      }
    }
    if (Present(m, "tool_calls")) {
      const Json& tc = m["tool_calls"];
      if (!tc.is_array()) {
        *err = BadRequest(where + ".tool_calls must be an array", where + ".tool_calls",
                          "invalid_type");
        return std::nullopt;
      }
      Json calls = Json::array();
      for (const Json& call : tc) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object() ||
            !call["function"].contains("name") || !call["function"]["name"].is_string()) {
          *err = BadRequest(where + ".tool_calls: each needs function.name", where + ".tool_calls",
                            "invalid_value");
          return std::nullopt;
        }
        Json f = call["function"];
        // Templates index arguments as a mapping (Qwen3, Llama-3.1): parse the JSON text.
        if (f.contains("arguments") && f["arguments"].is_string()) {
          const std::string& a = f["arguments"].get_ref<const std::string&>();
          if (JsonDepthWithin(a, lim.max_depth)) {
            Json parsed = Json::parse(a, nullptr, false);
            if (!parsed.is_discarded()) f["arguments"] = parsed;
          }
        }
        Json nc = {{"type", "function"}, {"function", f}};
        if (call.contains("id") && call["id"].is_string()) nc["id"] = call["id"];
        calls.push_back(nc);
      }
      n["tool_calls"] = calls;
    }
    out.push_back(std::move(n));
  }
  return out;
}

std::optional<GenerationRequest> ParseChatRequest(std::string_view body, const ParseLimits& lim,
                                                  ApiError* err) {
  std::optional<Json> j = ParseBodyObject(body, lim.max_depth, err);
  if (!j) return std::nullopt;
  const Json& o = *j;
  GenerationRequest r;
  r.kind = ApiKind::kChat;
  if (!o.contains("messages")) {
    *err = BadRequest("'messages' is required", "messages", "missing_field");
    return std::nullopt;
  }
  std::optional<Json> msgs = NormalizeChatMessages(o["messages"], lim, err);
  if (!msgs) return std::nullopt;
  r.messages = std::move(*msgs);
  if (!ReadCommon(o, lim, &r, err)) return std::nullopt;
  bool logprobs = false;
  if (!ReadBool(o, "logprobs", &logprobs, err)) return std::nullopt;
  int64_t top = 0;
  if (!ReadInt(o, "top_logprobs", 0, 20, &top, err)) return std::nullopt;
  if (Present(o, "top_logprobs") && !logprobs) {
    *err = BadRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    return std::nullopt;
  }
  r.top_logprobs = logprobs ? int32_t(top) : -1;
  if (!ReadTools(o, &r, err)) return std::nullopt;
  if (Present(o, "response_format")) {
    const Json& f = o["response_format"];
    if (!f.is_object() || f.value("type", "") != "text") {
      *err = BadRequest("only response_format {\"type\": \"text\"} is supported", "response_format",
                        "unsupported_value");
      return std::nullopt;
    }
  }
  if (Present(o, "chat_template_kwargs")) {
    if (!o["chat_template_kwargs"].is_object()) {
      *err = BadRequest("'chat_template_kwargs' must be an object", "chat_template_kwargs",
                        "invalid_type");
      return std::nullopt;
    }
    r.template_extra = o["chat_template_kwargs"];
  }
  if (Present(o, "reasoning_effort")) {
    if (!o["reasoning_effort"].is_string()) {
      *err = BadRequest("'reasoning_effort' must be a string", "reasoning_effort", "invalid_type");
      return std::nullopt;
    }
    if (r.template_extra.is_null()) r.template_extra = Json::object();
    r.template_extra["reasoning_effort"] = o["reasoning_effort"];
  }
  return r;
}

std::optional<GenerationRequest> ParseCompletionRequest(std::string_view body,
                                                        const ParseLimits& lim, ApiError* err) {
  std::optional<Json> j = ParseBodyObject(body, lim.max_depth, err);
  if (!j) return std::nullopt;
  const Json& o = *j;
  GenerationRequest r;
  r.kind = ApiKind::kCompletion;
  r.max_tokens = 16;  // OpenAI's default for completions
  if (!o.contains("prompt") || o["prompt"].is_null()) {
    *err = BadRequest("'prompt' is required", "prompt", "missing_field");
    return std::nullopt;
  }
  Json p = o["prompt"];
  // One prompt: a string, [string], [int...] or [[int...]].
  if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) p = Json(p[0]);
  if (p.is_string()) {
    r.prompt_text = p.get<std::string>();
  } else if (p.is_array() && !p.empty()) {
    if (p.size() > lim.max_prompt_tokens) {
      *err = BadRequest("the prompt has too many tokens", "prompt", "invalid_value");
      return std::nullopt;
    }
    for (const Json& t : p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX) {
        *err = BadRequest("'prompt' must be a string, or one array of token ids", "prompt",
                          "invalid_value");
        return std::nullopt;
      }
      r.prompt_tokens.push_back(int32_t(t.get<int64_t>()));
    }
    r.prompt_is_tokens = true;
  } else {
    *err = BadRequest("'prompt' must be a string or an array of token ids (one prompt)", "prompt",
                      "invalid_value");
    return std::nullopt;
  }
  if (!ReadCommon(o, lim, &r, err)) return std::nullopt;
  int64_t logprobs = -1;
  if (!ReadInt(o, "logprobs", 0, 20, &logprobs, err)) return std::nullopt;
  r.top_logprobs = int32_t(logprobs);
  bool echo = false;
  if (!ReadBool(o, "echo", &echo, err)) return std::nullopt;
  if (echo) {
    *err = BadRequest("'echo' is not supported", "echo", "unsupported_value");
    return std::nullopt;
  }
  if (Present(o, "suffix")) {
    *err = BadRequest("'suffix' is not supported", "suffix", "unsupported_value");
    return std::nullopt;
  }
  int64_t best_of = 1;
  if (!ReadInt(o, "best_of", 1, 1, &best_of, err)) return std::nullopt;
  return r;
}

}  // namespace shoal::server
