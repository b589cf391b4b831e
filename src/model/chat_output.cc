// The output parser is a small state machine over a buffer of text not yet given out. Each state
// has the markers it waits for; text before the earliest marker goes out in the state's way
// (content, reasoning, tool-call arguments, or kept to parse whole), and a tail that could be the
// start of a marker is held back until more text (or Finish) decides it.
#include "model/chat_output.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace shoal::model {

namespace {

using ojson = nlohmann::ordered_json;

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsWs(s[b])) ++b;
  while (e > b && IsWs(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Bytes at the end of s that form an incomplete UTF-8 sequence.
size_t IncompleteUtf8Tail(std::string_view s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[s.size() - k]);
    if ((c & 0xc0) == 0x80) continue;  // continuation byte: look further back
    const size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return len > k ? k : 0;
  }
  return 0;
}

bool HasThink(ChatFormat f) {
  return f == ChatFormat::kDeepSeekR1 || f == ChatFormat::kDeepSeekV3 ||
         f == ChatFormat::kDeepSeekV31 || f == ChatFormat::kQwen3 || f == ChatFormat::kKimiK2;
}

// DeepSeek's markers use U+FF5C (fullwidth vertical line) and U+2581 (lower one eighth block).
constexpr std::string_view kDsCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDsCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kDsCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDsCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kDsSep = "<｜tool▁sep｜>";
constexpr std::string_view kKimiSectionBegin = "<|tool_calls_section_begin|>";
constexpr std::string_view kKimiSectionEnd = "<|tool_calls_section_end|>";
constexpr std::string_view kKimiCallBegin = "<|tool_call_begin|>";
constexpr std::string_view kKimiArgBegin = "<|tool_call_argument_begin|>";
constexpr std::string_view kKimiCallEnd = "<|tool_call_end|>";

}  // namespace

class ChatOutputParser::Impl {
 public:
  enum class St : uint8_t {
    kContent,
    kReasoning,
    kToolJson,   // Qwen3 / Hermes: inside <tool_call> ... </tool_call>
    kWholeJson,  // Llama-3: the reply is a JSON object; kept to the end
    kPythonTag,  // Llama-3: after <|python_tag|>; kept to the end
    kSection,    // DeepSeek / Kimi: inside the tool-calls section, between calls
    kCallName,   // DeepSeek-V3.1 / Kimi: the call's name (or id) before its arguments
    kCallArgs,   // DeepSeek-V3.1 / Kimi: the arguments, streamed
    kCallBody,   // DeepSeek-V3 / R1: a whole call, parsed at its end marker
  };

  Impl(ChatFormat f, ChatParseOptions o) : fmt_(f), opts_(std::move(o)) {
    if (!HasThink(fmt_)) opts_.parse_reasoning = false;
    st_ = (opts_.parse_reasoning && opts_.starts_in_reasoning) ? St::kReasoning : St::kContent;
  }

  void Run(std::string_view text, bool final, std::vector<ChatDelta>* out) {
    buf_.append(text);
    out_ = out;
    while (Step(final)) {
    }
    out_ = nullptr;
  }

  std::vector<std::string> warnings;

 private:
  struct Marker {
    std::string_view text;
    int action;
  };

  std::vector<Marker> Markers() const {
    const bool tools = opts_.parse_tool_calls;
    std::vector<Marker> m;
    switch (st_) {
      case St::kContent:
        if (opts_.parse_reasoning && !content_started_) m.push_back({"<think>", 0});
        if (!tools) break;
        if (fmt_ == ChatFormat::kQwen3) m.push_back({"<tool_call>", 1});
        if (fmt_ == ChatFormat::kLlama3) m.push_back({"<|python_tag|>", 2});
        if (fmt_ == ChatFormat::kDeepSeekV3 || fmt_ == ChatFormat::kDeepSeekV31) {
          m.push_back({kDsCallsBegin, 3});
          m.push_back({kDsCallBegin, 4});
        }
        if (fmt_ == ChatFormat::kKimiK2) m.push_back({kKimiSectionBegin, 3});
        break;
      case St::kReasoning:
        m.push_back({"</think>", 0});
        break;
      case St::kToolJson:
        m.push_back({"</tool_call>", 0});
        break;
      case St::kSection:
        if (fmt_ == ChatFormat::kKimiK2) {
          m.push_back({kKimiCallBegin, 0});
          m.push_back({kKimiSectionEnd, 1});
        } else {
          m.push_back({kDsCallBegin, 0});
          m.push_back({kDsCallsEnd, 1});
        }
        break;
      case St::kCallName:
        m.push_back({fmt_ == ChatFormat::kKimiK2 ? kKimiArgBegin : kDsSep, 0});
        m.push_back({fmt_ == ChatFormat::kKimiK2 ? kKimiCallEnd : kDsCallEnd, 1});
        break;
      case St::kCallArgs:
        m.push_back({fmt_ == ChatFormat::kKimiK2 ? kKimiCallEnd : kDsCallEnd, 0});
        break;
      case St::kCallBody:
        m.push_back({kDsCallEnd, 0});
        break;
      case St::kWholeJson:
      case St::kPythonTag:
        break;
    }
    return m;
  }

  bool Step(bool final) {
    std::vector<Marker> markers = Markers();
    size_t best = std::string::npos;
    const Marker* found = nullptr;
    for (const Marker& mk : markers) {
      const size_t p = buf_.find(mk.text);
      if (p != std::string::npos &&
          (p < best || (p == best && mk.text.size() > found->text.size()))) {
        best = p;
        found = &mk;
      }
    }
    // <think> opens reasoning only before any content: after text, it is text.
    if (found && st_ == St::kContent && found->text == "<think>" &&
        !Trim(std::string_view(buf_).substr(0, best)).empty()) {
      markers.erase(markers.begin());
      best = std::string::npos;
      found = nullptr;
      for (const Marker& mk : markers) {
        const size_t p = buf_.find(mk.text);
        if (p != std::string::npos &&
            (p < best || (p == best && mk.text.size() > found->text.size()))) {
          best = p;
          found = &mk;
        }
      }
    }
    if (found) {
      const std::string before = buf_.substr(0, best);
      const std::string_view marker = found->text;
      const int action = found->action;
      buf_.erase(0, best + marker.size());
      const St was = st_;
      Text(before, /*final_piece=*/true);
      if (st_ != was) {  // the text itself changed the state (Llama-3's JSON reply): the marker
        buf_.insert(0, marker);  // belongs to the new state
        return true;
      }
      Transition(action, marker);
      return true;
    }
    if (final) {
      std::string rest;
      rest.swap(buf_);
      Text(rest, true);
      Finish();
      return false;
    }
    // Hold back a tail that may begin a marker, an incomplete UTF-8 character, and (in
    // reasoning) trailing whitespace that may precede </think>.
    size_t hold = 0;
    for (const Marker& mk : markers) {
      for (size_t n = std::min(mk.text.size() - 1, buf_.size()); n > hold; --n) {
        if (buf_.compare(buf_.size() - n, n, mk.text.substr(0, n)) == 0) {
          hold = n;
          break;
        }
      }
    }
    size_t emit = buf_.size() - hold;
    emit -= IncompleteUtf8Tail(std::string_view(buf_).substr(0, emit));
    if (st_ == St::kReasoning) {
      while (emit > 0 && IsWs(buf_[emit - 1])) --emit;
    }
    const std::string piece = buf_.substr(0, emit);
    buf_.erase(0, emit);
    Text(piece, false);
    return false;
  }

  void Text(const std::string& t, bool final_piece) {
    if (t.empty()) return;
    switch (st_) {
      case St::kContent: {
        std::string_view v = t;
        if (!content_started_ || skip_ws_) {
          while (!v.empty() && IsWs(v.front())) v.remove_prefix(1);
          if (v.empty()) return;
          skip_ws_ = false;
          if (fmt_ == ChatFormat::kLlama3 && opts_.parse_tool_calls && v.front() == '{') {
            st_ = St::kWholeJson;
            pending_ = std::string(v);
            return;
          }
          content_started_ = true;
        }
        EmitContent(std::string(v));
        return;
      }
      case St::kReasoning: {
        std::string_view v = t;
        if (!reasoning_started_) {
          while (!v.empty() && IsWs(v.front())) v.remove_prefix(1);
          if (v.empty()) return;
          reasoning_started_ = true;
        }
        std::string s(v);
        if (final_piece) {
          while (!s.empty() && IsWs(s.back())) s.pop_back();
        }
        if (!s.empty()) Delta(true).reasoning += s;
        return;
      }
      case St::kCallArgs: {
        if (out_->empty() || out_->back().tool_calls.empty() ||
            out_->back().tool_calls.back().index != index_) {
          ChatDelta nd;
          nd.tool_calls.push_back(ToolCallDelta{index_, "", "", ""});
          out_->push_back(std::move(nd));
        }
        out_->back().tool_calls.back().arguments += t;
        args_seen_ += t;
        return;
      }
      case St::kSection: {
        // Stray text between calls is content; whitespace is emitted only once text follows
        // it, so the result does not depend on where the stream was cut.
        section_ws_ += t;
        size_t end = section_ws_.size();
        while (end > 0 && IsWs(section_ws_[end - 1])) --end;
        if (end > 0) {
          EmitContent(section_ws_.substr(0, end));
          section_ws_.erase(0, end);
        }
        return;
      }
      default:
        pending_ += t;
        return;
    }
  }

  void Transition(int action, std::string_view marker) {
    section_ws_.clear();
    switch (st_) {
      case St::kContent:
        if (action == 0) {
          st_ = St::kReasoning;
        } else if (action == 1) {
          st_ = St::kToolJson;
          pending_.clear();
        } else if (action == 2) {
          st_ = St::kPythonTag;
          pending_.clear();
        } else if (action == 3) {
          st_ = St::kSection;
        } else {
          StartCall();
        }
        return;
      case St::kReasoning:
        st_ = St::kContent;
        content_started_ = false;  // the whitespace after </think> is not content
        return;
      case St::kToolJson:
        if (!EmitJsonCall(pending_, "arguments")) {
          Warn("tool call is not valid JSON with a name: " + pending_.substr(0, 200));
          EmitContent("<tool_call>" + pending_ + "</tool_call>");
        }
        pending_.clear();
        st_ = St::kContent;
        content_started_ = true;
        return;
      case St::kSection:
        if (action == 0) {
          StartCall();
        } else {
          st_ = St::kContent;
          content_started_ = true;
        }
        return;
      case St::kCallName:
        if (action == 1) {  // call ended without arguments
          Warn("tool call without arguments: " + pending_.substr(0, 200));
          EmitContent(std::string(fmt_ == ChatFormat::kKimiK2 ? kKimiCallBegin : kDsCallBegin) +
                      pending_ + std::string(marker));
          pending_.clear();
          st_ = St::kSection;
          return;
        }
        NameCall();
        return;
      case St::kCallArgs:
        EndArgs();
        st_ = St::kSection;
        return;
      case St::kCallBody:
        ParseV3Call();
        st_ = St::kSection;
        return;
      default:
        return;
    }
  }

  void Finish() {
    switch (st_) {
      case St::kWholeJson:
        if (!EmitJsonCall(pending_, "parameters")) EmitContent(pending_);
        break;
      case St::kPythonTag:
        if (!EmitJsonCall(pending_, "parameters") && !EmitPythonCall(pending_)) {
          Warn("<|python_tag|> output is neither a JSON call nor name.call(...)");
          EmitContent("<|python_tag|>" + pending_);
        }
        break;
      case St::kToolJson:
        if (!EmitJsonCall(pending_, "arguments")) {
          Warn("unterminated <tool_call>: " + pending_.substr(0, 200));
          EmitContent("<tool_call>" + pending_);
        }
        break;
      case St::kCallName:
      case St::kCallBody:
        Warn("unterminated tool call: " + pending_.substr(0, 200));
        EmitContent(std::string(fmt_ == ChatFormat::kKimiK2 ? kKimiCallBegin : kDsCallBegin) +
                    pending_);
        break;
      case St::kCallArgs:
        Warn("tool call arguments not terminated");
        EndArgs();
        break;
      default:
        break;
    }
    pending_.clear();
    section_ws_.clear();
  }

  // --- emission ---

  // The delta to append text of one kind to: the last one when it holds only that kind.
  ChatDelta& Delta(bool reasoning) {
    if (out_->empty() || !out_->back().tool_calls.empty() ||
        !(reasoning ? out_->back().content : out_->back().reasoning).empty()) {
      out_->emplace_back();
    }
    return out_->back();
  }
  void EmitContent(const std::string& s) {
    if (s.empty()) return;
    content_started_ = true;
    Delta(false).content += s;
  }
  void EmitCall(std::string id, std::string name, std::string args) {
    skip_ws_ = true;
    ChatDelta d;
    d.tool_calls.push_back(ToolCallDelta{index_, std::move(id), std::move(name), std::move(args)});
    out_->push_back(std::move(d));
    ++index_;
  }
  void Warn(std::string w) { warnings.push_back(std::move(w)); }

  // {"name": ..., "<args_key>" | "arguments" | "parameters": ...}
  bool EmitJsonCall(const std::string& text, const char* args_key) {
    ojson j = ojson::parse(Trim(text), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return false;
    auto name = j.find("name");
    if (name == j.end() || !name->is_string()) return false;
    auto args = j.find(args_key);
    if (args == j.end()) args = j.find("arguments");
    if (args == j.end()) args = j.find("parameters");
    std::string a = "{}";
    if (args != j.end()) a = args->is_string() ? args->get<std::string>() : args->dump();
    EmitCall(opts_.id_prefix + std::to_string(index_), name->get<std::string>(), std::move(a));
    return true;
  }

  // name.call(key="value", n=1): Llama-3's built-in tool syntax.
  bool EmitPythonCall(const std::string& text) {
    const std::string t = Trim(text);
    const size_t dot = t.find(".call(");
    if (dot == std::string::npos || t.back() != ')') return false;
    const std::string name = t.substr(0, dot);
    std::string inner = t.substr(dot + 6, t.size() - dot - 7);
    ojson args = ojson::object();
    size_t k = 0;
    while (k < inner.size()) {
      while (k < inner.size() && (IsWs(inner[k]) || inner[k] == ',')) ++k;
      if (k >= inner.size()) break;
      const size_t eq = inner.find('=', k);
      if (eq == std::string::npos) return false;
      const std::string key = Trim(inner.substr(k, eq - k));
      k = eq + 1;
      while (k < inner.size() && IsWs(inner[k])) ++k;
      if (k < inner.size() && (inner[k] == '"' || inner[k] == '\'')) {
        const char q = inner[k];
        std::string v;
        ++k;
        while (k < inner.size() && inner[k] != q) {
          if (inner[k] == '\\' && k + 1 < inner.size()) ++k;
          v += inner[k++];
        }
        if (k >= inner.size()) return false;
        ++k;
        args[key] = v;
      } else {
        const size_t e = std::min(inner.find(',', k), inner.size());
        ojson v = ojson::parse(Trim(inner.substr(k, e - k)), nullptr, false);
        if (v.is_discarded()) return false;
        args[key] = v;
        k = e;
      }
    }
    if (name.empty()) return false;
    EmitCall(opts_.id_prefix + std::to_string(index_), name, args.dump());
    return true;
  }

  void StartCall() {
    st_ = fmt_ == ChatFormat::kDeepSeekV3 ? St::kCallBody : St::kCallName;
    pending_.clear();
  }

  void NameCall() {
    std::string id, name = Trim(pending_);
    if (fmt_ == ChatFormat::kKimiK2) {  // functions.NAME:IDX
      id = name;
      std::string n = name;
      if (n.rfind("functions.", 0) == 0) n = n.substr(10);
      const size_t colon = n.rfind(':');
      if (colon != std::string::npos) n = n.substr(0, colon);
      name = n;
    } else {
      id = opts_.id_prefix + std::to_string(index_);
    }
    ChatDelta d;
    d.tool_calls.push_back(ToolCallDelta{index_, std::move(id), std::move(name), ""});
    out_->push_back(std::move(d));
    pending_.clear();
    args_seen_.clear();
    st_ = St::kCallArgs;
  }

  void EndArgs() {
    skip_ws_ = true;
    ojson j = ojson::parse(args_seen_, nullptr, false);
    if (j.is_discarded())
      Warn("tool call arguments are not valid JSON: " + args_seen_.substr(0, 200));
    args_seen_.clear();
    ++index_;
  }

  // function<｜tool▁sep｜>NAME\n```json\nARGS\n```
  void ParseV3Call() {
    const std::string raw = pending_;
    pending_.clear();
    const size_t sep = raw.find(kDsSep);
    std::string rest = sep == std::string::npos ? raw : raw.substr(sep + kDsSep.size());
    const size_t nl = rest.find('\n');
    std::string name = Trim(rest.substr(0, nl));
    std::string args = nl == std::string::npos ? "" : rest.substr(nl + 1);
    args = Trim(args);
    if (args.rfind("```json", 0) == 0) args = args.substr(7);
    if (args.size() >= 3 && args.compare(args.size() - 3, 3, "```") == 0)
      args.resize(args.size() - 3);
    args = Trim(args);
    ojson j = ojson::parse(args, nullptr, false);
    if (name.empty() || j.is_discarded()) {
      Warn("DeepSeek tool call does not parse: " + raw.substr(0, 200));
      EmitContent(std::string(kDsCallBegin) + raw + std::string(kDsCallEnd));
      return;
    }
    EmitCall(opts_.id_prefix + std::to_string(index_), name, args);
  }

  ChatFormat fmt_;
  ChatParseOptions opts_;
  St st_;
  std::string buf_, pending_, args_seen_;
  std::string section_ws_;  // whitespace held back inside a tool-calls section
  bool content_started_ = false, reasoning_started_ = false;
  bool skip_ws_ = false;  // drop whitespace before the next content (after a tool call)
  int32_t index_ = 0;
  std::vector<ChatDelta>* out_ = nullptr;
};

ChatParseOptions ChatParseOptionsFor(const ChatTemplate& tmpl, std::string_view rendered_prompt,
                                     bool tools_given) {
  ChatParseOptions o;
  o.parse_tool_calls = tools_given;
  std::string_view p = rendered_prompt;
  while (!p.empty() && IsWs(p.back())) p.remove_suffix(1);
  o.starts_in_reasoning =
      HasThink(tmpl.format()) && p.size() >= 7 && p.substr(p.size() - 7) == "<think>";
  return o;
}

void MergeDeltas(const std::vector<ChatDelta>& deltas, ChatMessage* msg) {
  for (const ChatDelta& d : deltas) {
    msg->content += d.content;
    msg->reasoning += d.reasoning;
    for (const ToolCallDelta& t : d.tool_calls) {
      if (t.index < 0) continue;
      if (static_cast<size_t>(t.index) >= msg->tool_calls.size()) {
        msg->tool_calls.resize(static_cast<size_t>(t.index) + 1);
      }
      ToolCall& c = msg->tool_calls[static_cast<size_t>(t.index)];
      c.id += t.id;
      c.name += t.name;
      c.arguments += t.arguments;
    }
  }
}

ChatOutputParser::ChatOutputParser(ChatFormat format, ChatParseOptions opts)
    : format_(format), impl_(std::make_unique<Impl>(format, std::move(opts))) {}
ChatOutputParser::ChatOutputParser(const ChatTemplate& tmpl, ChatParseOptions opts)
    : ChatOutputParser(tmpl.format(), std::move(opts)) {}
ChatOutputParser::~ChatOutputParser() = default;
ChatOutputParser::ChatOutputParser(ChatOutputParser&&) noexcept = default;
ChatOutputParser& ChatOutputParser::operator=(ChatOutputParser&&) noexcept = default;

std::vector<ChatDelta> ChatOutputParser::Push(std::string_view text) {
  std::vector<ChatDelta> out;
  impl_->Run(text, false, &out);
  return out;
}

std::vector<ChatDelta> ChatOutputParser::Finish() {
  std::vector<ChatDelta> out;
  impl_->Run("", true, &out);
  return out;
}

const std::vector<std::string>& ChatOutputParser::warnings() const { return impl_->warnings; }

}  // namespace shoal::model
