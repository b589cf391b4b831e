// libFuzzer target: arbitrary bytes as a Jinja template (parsed, and rendered with a chat-like
// context under small limits) and as model output through every ChatOutputParser format.
// Checks: no crash or sanitizer report; errors are InvalidArgument / ResourceExhausted with a
// message; output within the limit; the parser's merged result is the same whole and split.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "model/chat_output.h"
#include "model/jinja/program.h"

namespace {

namespace jinja = shoal::model::jinja;
using shoal::model::ChatDelta;
using shoal::model::ChatFormat;
using shoal::model::ChatMessage;
using shoal::model::ChatOutputParser;
using shoal::model::ChatParseOptions;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jinja_fuzz: %s\n", what);
    std::abort();
  }
}

jinja::Value Context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
                 {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                   "function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "content": "r"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
  return jinja::Value::FromJson(ctx);
}

ChatMessage Parse(ChatFormat f, const ChatParseOptions& o, std::string_view text, size_t cut) {
  ChatOutputParser p(f, o);
  ChatMessage m;
  shoal::model::MergeDeltas(p.Push(text.substr(0, cut)), &m);
  shoal::model::MergeDeltas(p.Push(text.substr(cut)), &m);
  shoal::model::MergeDeltas(p.Finish(), &m);
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string src(reinterpret_cast<const char*>(data), size);
  auto prog = jinja::Program::Parse(src);
  if (!prog.ok()) {
    Check(prog.status().code() == shoal::StatusCode::kInvalidArgument, "parse error code");
    Check(!prog.status().message().empty(), "parse error without a message");
  } else {
    jinja::RenderLimits limits;
    limits.max_output_bytes = 1 << 16;
    limits.max_steps = 20000;
    limits.max_call_depth = 16;
    auto out = (*prog)->Render(Context(), limits, [] { return std::time_t{0}; });
    if (out.ok()) {
      Check(out->size() <= limits.max_output_bytes, "output over the limit");
    } else {
      Check(!out.status().message().empty(), "render error without a message");
    }
  }
  static const ChatFormat kFormats[] = {ChatFormat::kContent,    ChatFormat::kDeepSeekR1,
                                        ChatFormat::kDeepSeekV3, ChatFormat::kDeepSeekV31,
                                        ChatFormat::kQwen3,      ChatFormat::kLlama3,
                                        ChatFormat::kKimiK2};
  const size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  for (ChatFormat f : kFormats) {
    ChatParseOptions o;
    o.starts_in_reasoning = size > 1 && (data[1] & 1);
    const ChatMessage a = Parse(f, o, src, 0), b = Parse(f, o, src, cut);
    Check(a.content == b.content && a.reasoning == b.reasoning, "split changed the text");
    Check(a.tool_calls.size() == b.tool_calls.size(), "split changed the tool calls");
    for (size_t k = 0; k < a.tool_calls.size(); ++k) {
      Check(a.tool_calls[k].name == b.tool_calls[k].name &&
                a.tool_calls[k].arguments == b.tool_calls[k].arguments,
            "split changed a tool call");
    }
  }
  return 0;
}
