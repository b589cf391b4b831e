// llama-server's POST /tokenize, /detokenize and /apply-template, so tools written for it work.
#include <httplib.h>

#include "server/api.h"
#include "server/request_fields.h"

namespace shoal::server {
namespace {

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

void HandleTokenize(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<Json> j = ParseBodyObject(req.body, ctx.limits.max_depth, &err);
  if (!j) return SendError(res, err);
  std::string content;
  bool add_special = false, parse_special = true, with_pieces = false;
  if (!j->contains("content"))
    return SendError(res, BadRequest("'content' is required", "content"));
  if (!ReadString(*j, "content", &content, &err) ||
      !ReadBool(*j, "add_special", &add_special, &err) ||
      !ReadBool(*j, "parse_special", &parse_special, &err) ||
      !ReadBool(*j, "with_pieces", &with_pieces, &err)) {
    return SendError(res, err);
  }
  const model::Tokenizer& tok = *ctx.tokenizer;
  const std::vector<int32_t> ids = tok.Encode(content, add_special, parse_special);
  Json tokens = Json::array();
  for (int32_t id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = tok.TokenToPiece(id, /*special=*/true);
    Json p = piece;
    if (!ValidUtf8(piece)) {  // a partial character: its bytes, as llama-server gives them
      p = Json::array();
      for (unsigned char c : piece) p.push_back(int(c));
    }
    tokens.push_back({{"id", id}, {"piece", p}});
  }
  SendJson(res, {{"tokens", tokens}});
}

void HandleDetokenize(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<Json> j = ParseBodyObject(req.body, ctx.limits.max_depth, &err);
  if (!j) return SendError(res, err);
  const model::Tokenizer& tok = *ctx.tokenizer;
  std::vector<int32_t> ids;
  if (j->contains("tokens")) {
    const Json& t = (*j)["tokens"];
    if (!t.is_array()) return SendError(res, BadRequest("'tokens' must be an array", "tokens"));
    for (const Json& x : t) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= tok.n_vocab()) {
        return SendError(
            res, BadRequest("'tokens' must hold token ids below " + std::to_string(tok.n_vocab()),
                            "tokens", "invalid_value"));
      }
      ids.push_back(int32_t(x.get<int64_t>()));
    }
  }
  SendJson(res, {{"content", tok.Decode(ids, /*special=*/true)}});
}

void HandleApplyTemplate(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ApiError err;
  std::optional<Json> j = ParseBodyObject(req.body, ctx.limits.max_depth, &err);
  if (!j) return SendError(res, err);
  if (!j->contains("messages")) {
    return SendError(res, BadRequest("'messages' is required", "messages", "missing_field"));
  }
  std::optional<Json> msgs = NormalizeChatMessages((*j)["messages"], ctx.limits, &err);
  if (!msgs) return SendError(res, err);
  if (ctx.chat_template == nullptr) {
    return SendError(res, BadRequest("the model has no chat template (start the server with "
                                     "--chat-template-fallback NAME)",
                                     "messages", "no_chat_template"));
  }
  Json tools = nullptr;
  if (j->contains("tools") && (*j)["tools"].is_array() && !(*j)["tools"].empty())
    tools = (*j)["tools"];
  auto prompt = ctx.chat_template->Apply(*msgs, tools, /*add_generation_prompt=*/true);
  if (!prompt.ok()) {
    return SendError(res, BadRequest("the chat template failed: " + prompt.status().message(),
                                     "messages", "template_error"));
  }
  SendJson(res, {{"prompt", *prompt}});
}

}  // namespace shoal::server
