// The steps every generating endpoint shares: the prompt (template, tokens, context check), the
// submission, ids and error responses.
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "server/api.h"

namespace shoal::server {

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void SendJson(httplib::Response& res, const nlohmann::ordered_json& j) {
  res.status = 200;
  res.set_content(Dump(j), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e, bool anthropic) {
  res.status = e.http_status;
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(anthropic ? AnthropicErrorJson(e) : OpenAiErrorJson(e), "application/json");
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewId(ApiContext& ctx, const char* prefix) {
  static const uint64_t salt = std::random_device{}();
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%08llx%08llx", prefix,
                static_cast<unsigned long long>(salt & 0xffffffffu),
                static_cast<unsigned long long>(ctx.next_id.fetch_add(1)));
  return buf;
}

bool CheckModel(const ApiContext& ctx, const std::string& model, ApiError* err) {
  if (model.empty() || model == ctx.model_id) return true;
  *err = BadRequest(
      "the model '" + model + "' does not exist; this server serves '" + ctx.model_id + "'",
      "model", "model_not_found");
  err->http_status = 404;
  err->type = "invalid_request_error";
  return false;
}

std::optional<PreparedPrompt> PreparePrompt(ApiContext& ctx, const GenerationRequest& r,
                                            ApiError* err) {
  PreparedPrompt p;
  const model::Tokenizer& tok = *ctx.tokenizer;
  const char* param = "prompt";
  if (r.kind == ApiKind::kCompletion) {
    if (r.prompt_is_tokens) {
      for (int32_t t : r.prompt_tokens) {
        if (t < 0 || t >= tok.n_vocab()) {
          *err = BadRequest("token id " + std::to_string(t) + " is out of the vocabulary (" +
                                std::to_string(tok.n_vocab()) + " tokens)",
                            "prompt", "invalid_value");
          return std::nullopt;
        }
      }
      p.tokens = r.prompt_tokens;
    } else {
      p.tokens = tok.Encode(r.prompt_text, /*add_special=*/true, /*parse_special=*/true);
    }
  } else {
    param = "messages";
    if (ctx.chat_template == nullptr) {
      *err = BadRequest(
          "the model has no chat template (start the server with --chat-template-fallback NAME)",
          "messages", "no_chat_template");
      return std::nullopt;
    }
    auto rendered = ctx.chat_template->Apply(
        r.messages, r.tools, /*add_generation_prompt=*/true,
        r.template_extra.is_object() ? r.template_extra : nlohmann::ordered_json::object());
    if (!rendered.ok()) {
      *err = BadRequest("the chat template failed: " + rendered.status().message(), "messages",
                        "template_error");
      return std::nullopt;
    }
    p.rendered = std::move(*rendered);
    p.tokens = model::TokenizeChatPrompt(tok, *ctx.chat_template, p.rendered);
  }
  if (p.tokens.empty()) {
    *err = BadRequest("the prompt is empty", param, "invalid_value");
    return std::nullopt;
  }
  const int32_t n_ctx = ctx.scheduler->n_ctx();
  if (int64_t(p.tokens.size()) >= n_ctx) {
    *err = BadRequest("the prompt has " + std::to_string(p.tokens.size()) +
                          " tokens; this server's context is " + std::to_string(n_ctx) +
                          " tokens (prompt and completion together)",
                      param, "context_length_exceeded");
    return std::nullopt;
  }
  return p;
}

std::shared_ptr<Generation> StartGeneration(ApiContext& ctx, const GenerationRequest& r,
                                            const PreparedPrompt& p, ApiError* err) {
  GenerationSpec spec;
  spec.prompt = p.tokens;
  spec.params.sampling = r.sampling;
  if (!r.seed_given) {
    std::random_device rd;
    spec.params.sampling.seed = rd() | (uint64_t{rd()} << 32);
  }
  const int32_t room = ctx.scheduler->n_ctx() - int32_t(p.tokens.size());
  spec.params.max_tokens = r.max_tokens > 0 ? std::min(r.max_tokens, room) : room;
  spec.params.ignore_eos = r.ignore_eos;
  spec.params.top_logprobs = r.top_logprobs;
  spec.stop = r.stop;
  auto g = Generation::Start(*ctx.scheduler, *ctx.tokenizer, std::move(spec));
  if (!g.ok()) {
    *err = FromStatus(g.status());
    return nullptr;
  }
  return std::move(*g);
}

}  // namespace shoal::server
