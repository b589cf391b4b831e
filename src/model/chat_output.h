// Incremental parsing of generated text into content, reasoning and tool calls, in the shape the
// OpenAI streaming API needs (delta.content, delta.reasoning_content, delta.tool_calls[]).
//
//   ChatOutputParser p(tmpl, ChatParseOptionsFor(tmpl, prompt, /*tools_given=*/true));
//   for each decoded piece: for (const ChatDelta& d : p.Push(piece)) send(d);
//   at the end:             for (const ChatDelta& d : p.Finish()) send(d);
//
// Text that may be the start of a marker (say "<thi" at the end of a piece) is held back until
// the next Push or Finish decides it. The concatenation of all deltas does not depend on how the
// text was split into pushes. The formats parsed are listed with ChatFormat (chat_template.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/chat_template.h"

namespace shoal::model {

struct ChatParseOptions {
  // The prompt ended inside an opened reasoning block (DeepSeek-R1's template writes "<think>\n"
  // after the assistant tag): output is reasoning until </think>.
  bool starts_in_reasoning = false;
  // false: <think> blocks stay in the content as plain text.
  bool parse_reasoning = true;
  // false (a request without tools): tool-call markers stay in the content as plain text.
  bool parse_tool_calls = true;
  // Tool-call ids are id_prefix + the call's index in this reply, except where the format carries
  // its own id (Kimi-K2's "functions.NAME:IDX"). A server passes something unique per request.
  std::string id_prefix = "call_";
};

// Options for a reply to `rendered_prompt`: starts_in_reasoning when the prompt ends with an
// opened <think>; parse_tool_calls when the request gave tools.
ChatParseOptions ChatParseOptionsFor(const ChatTemplate& tmpl, std::string_view rendered_prompt,
                                     bool tools_given);

struct ToolCallDelta {
  int32_t index = 0;      // position of the call in this reply, from 0
  std::string id;         // set on the first delta of a call, empty afterwards
  std::string name;       // set on the first delta of a call, empty afterwards
  std::string arguments;  // a fragment of the arguments' JSON text; fragments concatenate
};

struct ChatDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

// A whole reply, merged from deltas (tests, non-streaming responses).
struct ToolCall {
  std::string id, name, arguments;
};
struct ChatMessage {
  std::string content, reasoning;
  std::vector<ToolCall> tool_calls;
};
// Appends deltas to a message: texts concatenate, tool calls are grouped by index.
void MergeDeltas(const std::vector<ChatDelta>& deltas, ChatMessage* msg);

class ChatOutputParser {
 public:
  ChatOutputParser(ChatFormat format, ChatParseOptions opts = {});
  ChatOutputParser(const ChatTemplate& tmpl, ChatParseOptions opts = {});
  ~ChatOutputParser();
  ChatOutputParser(ChatOutputParser&&) noexcept;
  ChatOutputParser& operator=(ChatOutputParser&&) noexcept;

  std::vector<ChatDelta> Push(std::string_view text);
  // Flushes what was held back; an unterminated tool call or malformed tool-call JSON is given
  // back as content text (nothing generated is lost) and noted in warnings().
  std::vector<ChatDelta> Finish();

  // Human-readable notes on output that did not parse as its format says (malformed tool-call
  // JSON, an unterminated call), for logs.
  const std::vector<std::string>& warnings() const;
  ChatFormat format() const { return format_; }

 private:
  class Impl;
  ChatFormat format_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::model
