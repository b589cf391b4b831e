#include "model/jinja/strings.h"

#include <cctype>
#include <cstdio>

namespace shoal::model::jinja {

namespace {

uint32_t Decode(std::string_view cp) {
  const unsigned char c = static_cast<unsigned char>(cp[0]);
  if (cp.size() == 1) return c;
  uint32_t v = c & (0x7f >> cp.size());
  for (size_t k = 1; k < cp.size(); ++k) v = (v << 6) | (static_cast<unsigned char>(cp[k]) & 0x3f);
  return v;
}

bool IsPySpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

}  // namespace

std::string Strip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::vector<std::string_view> cps = CodePoints(s);
  std::vector<std::string_view> set;
  if (chars) set = CodePoints(*chars);
  auto strip_me = [&](std::string_view cp) {
    if (!chars) return IsPySpace(Decode(cp));
    for (std::string_view x : set) {
      if (x == cp) return true;
    }
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_me(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_me(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t k = b; k < e; ++k) out += cps[k];
  return out;
}

std::vector<std::string> SplitWhitespace(std::string_view s, int64_t maxsplit, bool from_right) {
  std::vector<std::string_view> cps = CodePoints(s);
  std::vector<std::string> out;
  if (from_right) {
    int64_t e = static_cast<int64_t>(cps.size());
    while (true) {
      while (e > 0 && IsPySpace(Decode(cps[static_cast<size_t>(e - 1)]))) --e;
      if (e == 0) break;
      int64_t b = e;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        b = 0;
      } else {
        while (b > 0 && !IsPySpace(Decode(cps[static_cast<size_t>(b - 1)]))) --b;
      }
      std::string w;
      for (int64_t k = b; k < e; ++k) w += cps[static_cast<size_t>(k)];
      out.insert(out.begin(), std::move(w));
      e = b;
    }
    return out;
  }
  size_t b = 0;
  while (true) {
    while (b < cps.size() && IsPySpace(Decode(cps[b]))) ++b;
    if (b == cps.size()) break;
    size_t e = b;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      e = cps.size();
      while (e > b && IsPySpace(Decode(cps[e - 1]))) --e;
    } else {
      while (e < cps.size() && !IsPySpace(Decode(cps[e]))) ++e;
    }
    std::string w;
    for (size_t k = b; k < e; ++k) w += cps[k];
    out.push_back(std::move(w));
    b = e;
  }
  return out;
}

std::vector<std::string> Split(std::string_view s, std::string_view sep, int64_t maxsplit,
                               bool from_right) {
  std::vector<std::string> out;
  if (!from_right) {
    size_t b = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t p = s.find(sep, b);
      if (p == std::string_view::npos) break;
      out.emplace_back(s.substr(b, p - b));
      b = p + sep.size();
    }
    out.emplace_back(s.substr(b));
    return out;
  }
  size_t e = s.size();
  std::vector<std::string> rev;
  while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
    if (e < sep.size()) break;
    const size_t p = s.rfind(sep, e - sep.size());
    if (p == std::string_view::npos) break;
    rev.emplace_back(s.substr(p + sep.size(), e - p - sep.size()));
    e = p;
  }
  out.emplace_back(s.substr(0, e));
  for (auto it = rev.rbegin(); it != rev.rend(); ++it) out.push_back(*it);
  return out;
}

std::vector<std::string> SplitLines(std::string_view s) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\n' || s[k] == '\r') {
      out.emplace_back(s.substr(b, k - b));
      if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') ++k;
      b = k + 1;
    }
  }
  if (b < s.size()) out.emplace_back(s.substr(b));
  return out;
}

std::string Replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` between characters and at both ends
    std::vector<std::string_view> cps = CodePoints(s);
    int64_t n = 0;
    for (std::string_view cp : cps) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      out += cp;
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  size_t b = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t p = s.find(from, b);
    if (p == std::string_view::npos) break;
    out.append(s.substr(b, p - b));
    out.append(to);
    b = p + from.size();
    ++n;
  }
  out.append(s.substr(b));
  return out;
}

std::string ChangeCase(std::string_view s, std::string_view how) {
  std::string out(s);
  auto up = [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); };
  auto low = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  if (how == "upper") {
    for (char& c : out) c = up(c);
  } else if (how == "lower") {
    for (char& c : out) c = low(c);
  } else if (how == "swapcase") {
    for (char& c : out) c = std::isupper(static_cast<unsigned char>(c)) ? low(c) : up(c);
  } else if (how == "capitalize") {
    for (size_t k = 0; k < out.size(); ++k) out[k] = k == 0 ? up(out[k]) : low(out[k]);
  } else if (how == "title") {
    bool prev_cased = false;
    for (char& c : out) {
      c = prev_cased ? low(c) : up(c);
      prev_cased = alpha(c);
    }
  } else if (how == "jinja_title") {
    // Words begin after runs of whitespace, '-', '(', '{', '[' or '<'.
    bool start = true;
    for (char& c : out) {
      const bool sep = std::isspace(static_cast<unsigned char>(c)) || c == '-' || c == '(' ||
                       c == '{' || c == '[' || c == '<';
      if (sep) {
        start = true;
        continue;
      }
      c = start ? up(c) : low(c);
      start = false;
    }
  }
  return out;
}

bool CharClass(std::string_view s, std::string_view how) {
  if (s.empty()) return false;
  bool cased = false;
  for (unsigned char c : s) {
    if (how == "isdigit" && !std::isdigit(c)) return false;
    if (how == "isalpha" && !std::isalpha(c)) return false;
    if (how == "isalnum" && !std::isalnum(c)) return false;
    if (how == "isspace" && !std::isspace(c)) return false;
    if (how == "islower" && std::isupper(c)) return false;
    if (how == "isupper" && std::islower(c)) return false;
    cased |= std::isalpha(c) != 0;
  }
  return (how == "islower" || how == "isupper") ? cased : true;
}

StatusOr<Value> BraceFormat(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    const char c = fmt[k];
    if (c == '}' && k + 1 < fmt.size() && fmt[k + 1] == '}') {
      out += '}';
      ++k;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    const size_t e = fmt.find('}', k);
    if (e == std::string::npos) return InvalidArgument("format: single '{' encountered");
    const std::string field = fmt.substr(k + 1, e - k - 1);
    if (field.find(':') != std::string::npos || field.find('!') != std::string::npos) {
      return InvalidArgument("format: format specs are not supported");
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size())
        return InvalidArgument("format: index out of range");
      v = &args.positional[auto_index++];
    } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
      const size_t i = std::stoul(field);
      if (i >= args.positional.size()) return InvalidArgument("format: index out of range");
      v = &args.positional[i];
    } else {
      v = args.Kwarg(field);
      if (!v) return InvalidArgument("format: no argument '" + field + "'");
    }
    out += v->Str();
    k = e;
  }
  return Value::String(std::move(out));
}

StatusOr<Value> PercentFormat(const std::string& fmt, const Value& arg) {
  std::vector<Value> args;
  if (arg.is_list() && arg.is_tuple) {
    args = arg.list->items;
  } else {
    args.push_back(arg);
  }
  std::string out;
  size_t next = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%') {
      out += fmt[k];
      continue;
    }
    size_t j = k + 1;
    std::string spec = "%";
    while (j < fmt.size() && spec.size() < 12 &&
           std::string_view("-+ 0#.0123456789").find(fmt[j]) != std::string_view::npos) {
      spec += fmt[j++];
    }
    if (j >= fmt.size()) return InvalidArgument("incomplete format");
    const char c = fmt[j];
    k = j;
    if (c == '%') {
      out += '%';
      continue;
    }
    if (next >= args.size()) return InvalidArgument("not enough arguments for format string");
    const Value& a = args[next++];
    const bool num = a.is_number() || a.kind == Value::Kind::kBool;
    const double d = a.kind == Value::Kind::kBool ? a.b : a.AsDouble();
    char buf[128];
    if (c == 's' || c == 'r') {
      out += c == 's' ? a.Str() : a.Repr();
    } else if (c == 'd' || c == 'i') {
      if (!num) return InvalidArgument("%d format: a number is required, not " + a.TypeName());
      std::snprintf(
          buf, sizeof(buf), (spec + "lld").c_str(),
          static_cast<long long>(a.kind == Value::Kind::kInt ? a.i : static_cast<int64_t>(d)));
      out += buf;
    } else if (c == 'f' || c == 'e' || c == 'g') {
      if (!num) return InvalidArgument("%f format: a number is required, not " + a.TypeName());
      std::snprintf(buf, sizeof(buf), (spec + c).c_str(), d);
      out += buf;
    } else {
      return InvalidArgument(std::string("unsupported format character '") + c + "'");
    }
  }
  if (next < args.size())
    return InvalidArgument("not all arguments converted during string formatting");
  return Value::String(std::move(out));
}

}  // namespace shoal::model::jinja
