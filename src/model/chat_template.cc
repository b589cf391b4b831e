#include "model/chat_template.h"

#include "model/jinja/program.h"
#include "model/model.h"

namespace shoal::model {

namespace {

// ChatML, the format of Qwen, Hermes and many fine-tunes: <|im_start|>role\ncontent<|im_end|>.
constexpr const char* kChatMl =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is "
    "string else '') + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

// Llama-3's header format.
constexpr const char* kLlama3 =
    "{{- bos_token -}}\n"
    "{%- for message in messages -%}\n"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "(message['content'] | trim if message['content'] is string else '') + '<|eot_id|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}\n";

struct Builtin {
  const char* name;
  const char* source;
};
constexpr Builtin kBuiltins[] = {{"chatml", kChatMl}, {"llama3", kLlama3}};

bool Contains(std::string_view s, std::string_view x) {
  return s.find(x) != std::string_view::npos;
}

}  // namespace

std::string_view ChatFormatName(ChatFormat f) {
  switch (f) {
    case ChatFormat::kContent:
      return "content";
    case ChatFormat::kDeepSeekR1:
      return "deepseek-r1";
    case ChatFormat::kDeepSeekV3:
      return "deepseek-v3";
    case ChatFormat::kDeepSeekV31:
      return "deepseek-v3.1";
    case ChatFormat::kQwen3:
      return "qwen3";
    case ChatFormat::kLlama3:
      return "llama3";
    case ChatFormat::kKimiK2:
      return "kimi-k2";
  }
  return "?";
}

ChatFormat DetectChatFormat(std::string_view src) {
  if (Contains(src, "<|tool_calls_section_begin|>")) return ChatFormat::kKimiK2;
  if (Contains(src, "<｜tool▁calls▁begin｜>")) {
    // V3.1 writes name<｜tool▁sep｜>arguments; V3 and R1 write type<｜tool▁sep｜>name and a
    // ```json block.
    if (Contains(src, "'<｜tool▁call▁begin｜>'+ tool['function']['name']") ||
        Contains(src, "<｜tool▁call▁begin｜>'+ tool['function']['name'] + '<｜tool▁sep｜>'") ||
        !Contains(src, "```json")) {
      return ChatFormat::kDeepSeekV31;
    }
    return ChatFormat::kDeepSeekV3;
  }
  if (Contains(src, "<tool_call>")) return ChatFormat::kQwen3;
  if (Contains(src, "<|python_tag|>") ||
      (Contains(src, "<|start_header_id|>") && Contains(src, "\"parameters\""))) {
    return ChatFormat::kLlama3;
  }
  if (Contains(src, "<think>") || Contains(src, "</think>")) return ChatFormat::kDeepSeekR1;
  return ChatFormat::kContent;
}

std::vector<std::string> BuiltinChatTemplateNames() {
  std::vector<std::string> out;
  for (const Builtin& b : kBuiltins) out.emplace_back(b.name);
  return out;
}

StatusOr<std::string> BuiltinChatTemplateSource(std::string_view name) {
  for (const Builtin& b : kBuiltins) {
    if (name == b.name) return std::string(b.source);
  }
  std::string names;
  for (const Builtin& b : kBuiltins) names += std::string(names.empty() ? "" : ", ") + b.name;
  return NotFound("no built-in chat template named '" + std::string(name) + "' (known: " + names +
                  ")");
}

StatusOr<ChatTemplate> ChatTemplate::FromSource(std::string source, std::string bos_text,
                                                std::string eos_text) {
  jinja::LexOptions lex;  // trim_blocks and lstrip_blocks, as transformers renders
  StatusOr<std::shared_ptr<const jinja::Program>> p = jinja::Program::Parse(source, lex);
  if (!p.ok()) return p.status().With("chat template");
  ChatTemplate t;
  t.program_ = std::move(p).value();
  t.source_ = std::move(source);
  t.bos_text_ = std::move(bos_text);
  t.eos_text_ = std::move(eos_text);
  t.has_tools_ = Contains(t.source_, "tools");
  t.format_ = DetectChatFormat(t.source_);
  return t;
}

StatusOr<ChatTemplate> ChatTemplate::FromMetadata(const gguf::Metadata& md, const Tokenizer& tok,
                                                  const ChatTemplateOptions& opts) {
  const std::string bos = tok.bos() >= 0 ? tok.TokenToPiece(tok.bos(), true) : "";
  const std::string eos = tok.eos() >= 0 ? tok.TokenToPiece(tok.eos(), true) : "";
  if (!opts.override_source.empty()) return FromSource(opts.override_source, bos, eos);
  StatusOr<std::string> src = md.GetString("tokenizer.chat_template");
  if (src.ok()) return FromSource(std::move(src).value(), bos, eos);
  if (opts.fallback.empty()) {
    return NotFound(
        "the model has no chat template (tokenizer.chat_template); ask for a built-in fallback "
        "(chatml, llama3) or give a template file");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string fb, BuiltinChatTemplateSource(opts.fallback));
  return FromSource(std::move(fb), bos, eos);
}

StatusOr<ChatTemplate> ChatTemplate::FromModel(const Model& model,
                                               const ChatTemplateOptions& opts) {
  return FromMetadata(model.file().metadata(), model.tokenizer(), opts);
}

StatusOr<std::string> ChatTemplate::Apply(const nlohmann::ordered_json& messages,
                                          const nlohmann::ordered_json& tools,
                                          bool add_generation_prompt,
                                          const nlohmann::ordered_json& extra_context) const {
  if (!messages.is_array()) return InvalidArgument("messages must be an array");
  if (!tools.is_null() && !tools.is_array()) return InvalidArgument("tools must be an array");
  if (!extra_context.is_null() && !extra_context.is_object()) {
    return InvalidArgument("extra template context must be an object");
  }
  jinja::Value vars = jinja::Value::Dict();
  vars.dict->Set("messages", jinja::Value::FromJson(messages));
  // As transformers does: `tools` is always defined, None when the request has none.
  vars.dict->Set("tools", jinja::Value::FromJson(tools));
  vars.dict->Set("add_generation_prompt", jinja::Value::Bool(add_generation_prompt));
  vars.dict->Set("bos_token", jinja::Value::String(bos_text_));
  vars.dict->Set("eos_token", jinja::Value::String(eos_text_));
  if (extra_context.is_object()) {
    for (const auto& [k, v] : extra_context.items()) vars.dict->Set(k, jinja::Value::FromJson(v));
  }
  StatusOr<std::string> out = program_->Render(vars);
  if (!out.ok()) return out.status().With("chat template");
  return out;
}

bool ChatTemplate::ShouldAddBos(std::string_view rendered, bool tokenizer_add_bos) const {
  if (!tokenizer_add_bos) return false;
  if (!bos_text_.empty() && rendered.substr(0, bos_text_.size()) == bos_text_) return false;
  return true;
}

std::vector<int32_t> TokenizeChatPrompt(const Tokenizer& tok, const ChatTemplate& tmpl,
                                        std::string_view rendered) {
  std::vector<int32_t> ids = tok.Encode(rendered, /*add_special=*/false, /*parse_special=*/true);
  if (tok.bos() >= 0 && tmpl.ShouldAddBos(rendered, tok.add_bos())) {
    ids.insert(ids.begin(), tok.bos());
  }
  return ids;
}

}  // namespace shoal::model
