// The Jinja lexer: template source to tokens. Text between tags becomes kText with whitespace
// control already applied ({%- -%}, {{- -}}, {#- -#}, and the trim_blocks / lstrip_blocks
// settings with their `+` opt-outs), comments vanish, {% raw %} bodies become text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace shoal::model::jinja {

struct Pos {
  int32_t line = 1, col = 1;
};

enum class Tok : uint8_t {
  kText,
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // value: the unescaped string
  kInt,
  kFloat,
  kOp,  // value: the operator text
  kEof,
};

struct Token {
  Tok type;
  std::string value;
  Pos pos;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// InvalidArgument "LINE:COL: ..." on an unterminated tag, string or comment, or a stray
// character.
StatusOr<std::vector<Token>> Lex(std::string_view src, const LexOptions& opt);

// "line L, column C" text for messages.
std::string PosText(Pos p);

}  // namespace shoal::model::jinja
