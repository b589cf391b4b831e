#include "model/jinja/lexer.h"

#include <algorithm>
#include <cstring>

namespace shoal::model::jinja {

std::string PosText(Pos p) { return std::to_string(p.line) + ":" + std::to_string(p.col); }

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& opt) : src_(src), opt_(opt) {
    line_starts_.push_back(0);
    for (size_t k = 0; k < src.size(); ++k) {
      if (src[k] == '\n') line_starts_.push_back(k + 1);
    }
  }

  StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool lstrip_next_text = false;  // the previous tag ended with '-'
    bool line_starting = true;
    while (pos <= src_.size()) {
      const size_t tag = FindTag(pos);
      std::string_view text = src_.substr(pos, tag - pos);
      if (lstrip_next_text) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.remove_prefix(k);
      }
      if (tag == src_.size()) {
        Emit(Tok::kText, std::string(text), pos);
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char mod = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
      } else if (kind != '{' && opt_.lstrip_blocks && mod != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          bool blank = true;
          for (size_t k = l_pos; k < text.size(); ++k) blank &= text[k] == ' ' || text[k] == '\t';
          if (blank) text = text.substr(0, l_pos);
        }
      }
      Emit(Tok::kText, std::string(text), pos);
      size_t p = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      char end_mod = 0;
      if (kind == '#') {
        const size_t e = src_.find("#}", p);
        if (e == std::string_view::npos) return Error(tag, "unterminated comment");
        end_mod = (e > p && (src_[e - 1] == '-' || src_[e - 1] == '+')) ? src_[e - 1] : 0;
        p = e + 2;
      } else if (kind == '%' && IsRaw(p)) {
        SHOAL_ASSIGN_OR_RETURN(p, LexRaw(tag, p, &end_mod));
      } else {
        Emit(kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, "", tag);
        SHOAL_ASSIGN_OR_RETURN(p, LexTag(tag, p, kind == '{' ? '}' : '%', &end_mod));
        Emit(kind == '{' ? Tok::kVarEnd : Tok::kBlockEnd, "", p - 2);
      }
      // After the tag: '-' strips all whitespace; trim_blocks removes one newline after a
      // block or comment tag.
      lstrip_next_text = end_mod == '-';
      line_starting = false;
      if (end_mod == '-') {
        size_t k = p;
        while (k < src_.size() && IsSpace(src_[k])) ++k;
        line_starting = k > p && src_[k - 1] == '\n';
        p = k;
        lstrip_next_text = false;
      } else if (kind != '{' && opt_.trim_blocks && end_mod != '+' && p < src_.size() &&
                 src_[p] == '\n') {
        ++p;
        line_starting = true;
      }
      pos = p;
    }
    Emit(Tok::kEof, "", src_.size());
    return std::move(out_);
  }

 private:
  size_t FindTag(size_t from) const {
    size_t k = from;
    while (true) {
      k = src_.find('{', k);
      if (k == std::string_view::npos || k + 1 >= src_.size()) return src_.size();
      const char c = src_[k + 1];
      if (c == '{' || c == '%' || c == '#') return k;
      ++k;
    }
  }

  Pos PosOf(size_t off) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return Pos{static_cast<int32_t>(line), static_cast<int32_t>(off - line_starts_[line - 1] + 1)};
  }

  Status Error(size_t off, const std::string& msg) const {
    return InvalidArgument(PosText(PosOf(off)) + ": " + msg);
  }

  void Emit(Tok t, std::string value, size_t off) {
    if (t == Tok::kText && value.empty()) return;
    out_.push_back(Token{t, std::move(value), PosOf(off)});
  }

  // {% raw %} at p (after "{%" and its modifier)?
  bool IsRaw(size_t p) const {
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  StatusOr<size_t> LexRaw(size_t tag, size_t p, char* end_mod) {
    const size_t close = src_.find("%}", p);
    const bool strip_body_front = src_[close - 1] == '-';
    size_t body = close + 2;
    // Find {% endraw %} (with optional modifiers and spaces).
    size_t k = body;
    while (true) {
      k = src_.find("{%", k);
      if (k == std::string_view::npos) return Error(tag, "unterminated {% raw %} block");
      size_t q = k + 2;
      const bool strip_body_back = q < src_.size() && src_[q] == '-';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") == 0) {
        q += 6;
        while (q < src_.size() && IsSpace(src_[q])) ++q;
        char m = 0;
        if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) m = src_[q++];
        if (src_.compare(q, 2, "%}") == 0) {
          std::string_view text = src_.substr(body, k - body);
          if (strip_body_front) {
            while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
          }
          if (strip_body_back) {
            while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
          }
          Emit(Tok::kText, std::string(text), body);
          *end_mod = m;
          return q + 2;
        }
      }
      k += 2;
    }
  }

  // Lexes expression tokens from p up to the tag's end ("}}" or "%}", with '-' or '+' before
  // it) at bracket depth 0. Returns the offset just after the end marker.
  StatusOr<size_t> LexTag(size_t tag, size_t p, char end_char, char* end_mod) {
    int depth = 0;
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) return Error(tag, "unterminated tag");
      const char c = src_[p];
      if (depth == 0) {
        if (c == end_char && p + 1 < src_.size() && src_[p + 1] == '}') {
          *end_mod = 0;
          return p + 2;
        }
        if ((c == '-' || c == '+') && p + 2 < src_.size() && src_[p + 1] == end_char &&
            src_[p + 2] == '}') {
          *end_mod = c;
          return p + 3;
        }
      }
      if (IsNameStart(c)) {
        size_t e = p;
        while (e < src_.size() && (IsNameStart(src_[e]) || IsDigit(src_[e]))) ++e;
        Emit(Tok::kName, std::string(src_.substr(p, e - p)), p);
        p = e;
      } else if (IsDigit(c)) {
        SHOAL_ASSIGN_OR_RETURN(p, LexNumber(p));
      } else if (c == '\'' || c == '"') {
        SHOAL_ASSIGN_OR_RETURN(p, LexString(p));
      } else {
        static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                           "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                           "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        const char* op = nullptr;
        for (const char* o : kOps) {
          if (src_.compare(p, std::strlen(o), o) == 0) {
            op = o;
            break;
          }
        }
        if (!op) return Error(p, std::string("unexpected character '") + c + "'");
        if (*op == '(' || *op == '[' || *op == '{') ++depth;
        if ((*op == ')' || *op == ']' || *op == '}') && depth > 0) --depth;
        Emit(Tok::kOp, op, p);
        p += std::strlen(op);
      }
    }
  }

  StatusOr<size_t> LexNumber(size_t p) {
    size_t e = p;
    bool is_float = false;
    while (e < src_.size() && (IsDigit(src_[e]) || src_[e] == '_')) ++e;
    if (e + 1 < src_.size() && src_[e] == '.' && IsDigit(src_[e + 1])) {
      is_float = true;
      ++e;
      while (e < src_.size() && (IsDigit(src_[e]) || src_[e] == '_')) ++e;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && IsDigit(src_[q])) {
        is_float = true;
        e = q;
        while (e < src_.size() && IsDigit(src_[e])) ++e;
      }
    }
    std::string text;
    for (size_t k = p; k < e; ++k) {
      if (src_[k] != '_') text += src_[k];
    }
    if (!is_float && text.size() > 18) return Error(p, "integer literal too large");
    Emit(is_float ? Tok::kFloat : Tok::kInt, text, p);
    return e;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  StatusOr<size_t> LexString(size_t p) {
    const char q = src_[p];
    std::string s;
    size_t k = p + 1;
    while (true) {
      if (k >= src_.size()) return Error(p, "unterminated string");
      const char c = src_[k];
      if (c == q) break;
      if (c != '\\' || k + 1 >= src_.size()) {
        s += c;
        ++k;
        continue;
      }
      const char e = src_[k + 1];
      k += 2;
      switch (e) {
        case 'n':
          s += '\n';
          break;
        case 't':
          s += '\t';
          break;
        case 'r':
          s += '\r';
          break;
        case 'b':
          s += '\b';
          break;
        case 'f':
          s += '\f';
          break;
        case 'v':
          s += '\v';
          break;
        case '0':
          s += '\0';
          break;
        case '\\':
          s += '\\';
          break;
        case '\'':
          s += '\'';
          break;
        case '"':
          s += '"';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (size_t t = 0; t < n; ++t) {
            const char h = k + t < src_.size() ? src_[k + t] : '\0';
            int d = -1;
            if (IsDigit(h)) d = h - '0';
            if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
            if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
            if (d < 0) return Error(k - 2, "bad \\" + std::string(1, e) + " escape in string");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          if (cp > 0x10ffff) return Error(k - 2, "escape out of Unicode range");
          k += n;
          AppendUtf8(cp, &s);
          break;
        }
        default:
          s += '\\';
          s += e;
      }
    }
    Emit(Tok::kString, std::move(s), p);
    return k + 1;
  }

  std::string_view src_;
  LexOptions opt_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
};

}  // namespace

StatusOr<std::vector<Token>> Lex(std::string_view src, const LexOptions& opt) {
  return Lexer(src, opt).Run();
}

}  // namespace shoal::model::jinja
