// Chat templates: the GGUF's tokenizer.chat_template (Jinja2 source, as Hugging Face ships it)
// rendered by shoal's own Jinja renderer (model/jinja/) the way transformers renders it
// (trim_blocks, lstrip_blocks, tojson without ASCII escaping, raise_exception, strftime_now).
//
// Typical use (a server):
//   SHOAL_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::FromModel(model, {.fallback = flag}));
//   SHOAL_ASSIGN_OR_RETURN(std::string prompt, t.Apply(messages, tools, true));
//   std::vector<int32_t> ids = TokenizeChatPrompt(model.tokenizer(), t, prompt);
//   ChatOutputParser parser(t, {...});   // model/chat_output.h
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/tokenizer.h"

namespace shoal::model {

class Model;
namespace jinja {
class Program;
}

// The output conventions a template implies (detected from its source; model/chat_output.h
// parses generated text by it).
enum class ChatFormat : uint8_t {
  kContent,     // plain text, no reasoning or tool-call markers
  kDeepSeekR1,  // <think>...</think> reasoning (the prompt may open <think>); no tool calls
  kDeepSeekV3,  // DeepSeek-V3 / R1 tool calls: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function
                // <｜tool▁sep｜>name\n```json\n{args}\n```<｜tool▁call▁end｜>..., plus <think>
  kDeepSeekV31,  // <think> reasoning;
                 // <｜tool▁call▁begin｜>name<｜tool▁sep｜>{args}<｜tool▁call▁end｜>
  kQwen3,        // <think> reasoning; <tool_call>{"name":..,"arguments":..}</tool_call> (Hermes
                 // style, also Qwen2.5)
  kLlama3,       // {"name": .., "parameters": ..} as the whole reply, or <|python_tag|>
  kKimiK2,       // <think> (K2 Thinking); <|tool_calls_section_begin|><|tool_call_begin|>
                 // functions.NAME:IDX<|tool_call_argument_begin|>{args}<|tool_call_end|>...
};
std::string_view ChatFormatName(ChatFormat f);
// Detects the format from a template's source (markers it writes); kContent when none match.
ChatFormat DetectChatFormat(std::string_view template_source);

struct ChatTemplateOptions {
  // Used only when the model has no tokenizer.chat_template: the name of a built-in template
  // (BuiltinChatTemplateNames()). Empty: a model without a template is an error.
  std::string fallback;
  // When set, this Jinja source is used instead of the model's template.
  std::string override_source;
};

// Names of the built-in templates ("chatml", ...), for --chat-template-fallback help text.
std::vector<std::string> BuiltinChatTemplateNames();
// The Jinja source of a built-in template; NotFound for an unknown name.
StatusOr<std::string> BuiltinChatTemplateSource(std::string_view name);

class ChatTemplate {
 public:
  // The template of a loaded model: tokenizer.chat_template from its GGUF metadata, bos/eos
  // texts from its tokenizer.
  static StatusOr<ChatTemplate> FromModel(const Model& model, const ChatTemplateOptions& opts = {});
  // The same from GGUF metadata and a tokenizer (no weights needed: `shoal template -m`).
  static StatusOr<ChatTemplate> FromMetadata(const gguf::Metadata& md, const Tokenizer& tok,
                                             const ChatTemplateOptions& opts = {});
  // A template from its Jinja source. Parse errors are InvalidArgument with line:column.
  static StatusOr<ChatTemplate> FromSource(std::string source, std::string bos_text,
                                           std::string eos_text);

  // Renders the conversation. `messages`: an array of {"role", "content", ["tool_calls"],
  // ["reasoning_content"], ["tool_call_id"], ["name"]}, passed to the template as it is;
  // `tools`: null (the template sees tools = none, as transformers passes it) or an array of
  // OpenAI tool objects;
  // `extra_context`: an object whose keys become further template variables (enable_thinking,
  // thinking, reasoning_effort, date_string, ...). bos_token and eos_token are defined from the
  // model. Template errors (raise_exception, a type error, limits) are InvalidArgument with
  // line:column.
  // The JSON is ordered (nlohmann::ordered_json keeps keys in the order the client sent them, as
  // Python's dicts do), since `tools | tojson` writes them in that order; a nlohmann::json
  // converts implicitly (its keys then sorted).
  StatusOr<std::string> Apply(const nlohmann::ordered_json& messages,
                              const nlohmann::ordered_json& tools, bool add_generation_prompt,
                              const nlohmann::ordered_json& extra_context = {}) const;

  // The template refers to `tools` (so a request's tools reach the prompt).
  bool has_tools() const { return has_tools_; }
  ChatFormat format() const { return format_; }
  const std::string& source() const { return source_; }
  const std::string& bos_text() const { return bos_text_; }
  const std::string& eos_text() const { return eos_text_; }

  // Whether the caller should add the BOS token when tokenizing a rendered prompt: only when the
  // tokenizer asks for BOS and the prompt does not already start with the BOS token's text.
  bool ShouldAddBos(std::string_view rendered, bool tokenizer_add_bos) const;

 private:
  std::shared_ptr<const jinja::Program> program_;
  std::string source_, bos_text_, eos_text_;
  bool has_tools_ = false;
  ChatFormat format_ = ChatFormat::kContent;
};

// Tokenizes a rendered prompt: special-token text becomes its token (parse_special), BOS is
// prepended only when ShouldAddBos says so (no double BOS), EOS is never added.
std::vector<int32_t> TokenizeChatPrompt(const Tokenizer& tok, const ChatTemplate& tmpl,
                                        std::string_view rendered);

}  // namespace shoal::model
