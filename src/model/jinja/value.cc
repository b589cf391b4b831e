#include "model/jinja/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace shoal::model::jinja {

const Value* CallArgs::Kwarg(std::string_view name) const {
  for (const auto& [k, v] : kwargs) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value Value::Undefined(std::string name) {
  Value v;
  v.s = std::move(name);
  return v;
}
Value Value::None() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Value::Bool(bool x) {
  Value v;
  v.kind = Kind::kBool;
  v.b = x;
  return v;
}
Value Value::Int(int64_t x) {
  Value v;
  v.kind = Kind::kInt;
  v.i = x;
  return v;
}
Value Value::Float(double x) {
  Value v;
  v.kind = Kind::kFloat;
  v.f = x;
  return v;
}
Value Value::String(std::string x) {
  Value v;
  v.kind = Kind::kString;
  v.s = std::move(x);
  return v;
}
Value Value::List(std::vector<Value> items) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::make_shared<ValueList>();
  v.list->items = std::move(items);
  return v;
}
Value Value::Tuple(std::vector<Value> items) {
  Value v = List(std::move(items));
  v.is_tuple = true;
  return v;
}
Value Value::Dict() {
  Value v;
  v.kind = Kind::kDict;
  v.dict = std::make_shared<ValueDict>();
  return v;
}
Value Value::Function(std::string name, std::function<StatusOr<Value>(Interp&, CallArgs&)> fn) {
  Value v;
  v.kind = Kind::kCallable;
  v.callable = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return None();
    case nlohmann::ordered_json::value_t::boolean:
      return Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Float(static_cast<double>(u));
      return Int(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Float(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return String(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJson(e));
      return List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = Dict();
      for (const auto& [k, e] : j.items()) d.dict->Set(k, FromJson(e));
      return d;
    }
    default:
      return None();
  }
}

const Value* ValueDict::Find(std::string_view key) const {
  auto it = index.find(std::string(key));
  return it == index.end() ? nullptr : &items[it->second].second;
}

void ValueDict::Set(const std::string& key, Value v) {
  auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, items.size());
  items.emplace_back(key, std::move(v));
}

bool ValueDict::Erase(std::string_view key) {
  auto it = index.find(std::string(key));
  if (it == index.end()) return false;
  items.erase(items.begin() + static_cast<ptrdiff_t>(it->second));
  index.clear();
  for (size_t i = 0; i < items.size(); ++i) index.emplace(items[i].first, i);
  return true;
}

bool Value::Truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b;
    case Kind::kInt:
      return i != 0;
    case Kind::kFloat:
      return f != 0;
    case Kind::kString:
      return !s.empty();
    case Kind::kList:
      return !list->items.empty();
    case Kind::kDict:
      return !dict->items.empty();
    case Kind::kCallable:
      return true;
  }
  return false;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf holds the shortest round-trip digits as d.ddde[+-]XX; lay them out as Python does.
  std::string m(buf);
  const size_t e = m.find('e');
  const int exp10 = std::atoi(m.c_str() + e + 1);
  std::string digits;
  bool neg = false;
  for (size_t k = 0; k < e; ++k) {
    if (m[k] == '-') neg = true;
    if (m[k] >= '0' && m[k] <= '9') digits += m[k];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  const int n = static_cast<int>(digits.size());
  if (exp10 >= 16 || exp10 < -4) {
    out += digits.substr(0, 1);
    if (n > 1) out.append(".").append(digits, 1);
    char eb[24];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + eb;
  }
  if (exp10 < 0) {
    out.append("0.").append(static_cast<size_t>(-exp10 - 1), '0').append(digits);
    return out;
  }
  if (n <= exp10 + 1) {
    out.append(digits).append(static_cast<size_t>(exp10 + 1 - n), '0').append(".0");
    return out;
  }
  out.append(digits, 0, static_cast<size_t>(exp10 + 1))
      .append(".")
      .append(digits, static_cast<size_t>(exp10 + 1));
  return out;
}

namespace {

std::string StrRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(q)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

}  // namespace

std::string Value::Str() const {
  switch (kind) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return b ? "True" : "False";
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kFloat:
      return FloatRepr(f);
    case Kind::kString:
      return s;
    default:
      return Repr();
  }
}

std::string Value::Repr() const {
  switch (kind) {
    case Kind::kString:
      return StrRepr(s);
    case Kind::kList: {
      std::string out = is_tuple ? "(" : "[";
      for (size_t k = 0; k < list->items.size(); ++k) {
        if (k) out += ", ";
        out += list->items[k].Repr();
      }
      if (is_tuple && list->items.size() == 1) out += ",";
      return out + (is_tuple ? ")" : "]");
    }
    case Kind::kDict: {
      if (is_namespace) return "<Namespace>";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : dict->items) {
        if (!first) out += ", ";
        first = false;
        out += StrRepr(k) + ": " + v.Repr();
      }
      return out + "}";
    }
    case Kind::kCallable:
      return "<function " + callable->name + ">";
    case Kind::kUndefined:
      return "Undefined";
    default:
      return Str();
  }
}

std::string Value::TypeName() const {
  switch (kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return is_tuple ? "tuple" : "list";
    case Kind::kDict:
      return is_namespace ? "Namespace" : "dict";
    case Kind::kCallable:
      return "function";
  }
  return "?";
}

namespace {
bool IsNumeric(const Value& v) {
  return v.kind == Value::Kind::kInt || v.kind == Value::Kind::kFloat ||
         v.kind == Value::Kind::kBool;
}
double Num(const Value& v) {
  if (v.kind == Value::Kind::kBool) return v.b ? 1 : 0;
  return v.AsDouble();
}
}  // namespace

bool Equal(const Value& a, const Value& b) {
  if (IsNumeric(a) && IsNumeric(b)) {
    if (a.kind == Value::Kind::kInt && b.kind == Value::Kind::kInt) return a.i == b.i;
    return Num(a) == Num(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.s == b.s;
    case Value::Kind::kList: {
      if (a.list == b.list) return true;
      if (a.list->items.size() != b.list->items.size()) return false;
      for (size_t k = 0; k < a.list->items.size(); ++k) {
        if (!Equal(a.list->items[k], b.list->items[k])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict == b.dict) return true;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->Find(k);
        if (!o || !Equal(v, *o)) return false;
      }
      return true;
    }
    case Value::Kind::kCallable:
      return a.callable == b.callable;
    default:
      return false;
  }
}

StatusOr<bool> Less(const Value& a, const Value& b) {
  if (IsNumeric(a) && IsNumeric(b)) {
    if (a.kind == Value::Kind::kInt && b.kind == Value::Kind::kInt) return a.i < b.i;
    return Num(a) < Num(b);
  }
  if (a.is_string() && b.is_string()) return a.s < b.s;
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list->items;
    const auto& y = b.list->items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (Equal(x[k], y[k])) continue;
      return Less(x[k], y[k]);
    }
    return x.size() < y.size();
  }
  return InvalidArgument("'<' not supported between instances of '" + a.TypeName() + "' and '" +
                         b.TypeName() + "'");
}

namespace {

void JsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  *out += '"';
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    switch (c) {
      case '"':
        *out += "\\\"";
        continue;
      case '\\':
        *out += "\\\\";
        continue;
      case '\n':
        *out += "\\n";
        continue;
      case '\r':
        *out += "\\r";
        continue;
      case '\t':
        *out += "\\t";
        continue;
      case '\b':
        *out += "\\b";
        continue;
      case '\f':
        *out += "\\f";
        continue;
      default:
        break;
    }
    char buf[16];
    if (c < 0x20) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      *out += buf;
    } else if (c < 0x80 || !ensure_ascii) {
      *out += static_cast<char>(c);
    } else {
      // Decode one UTF-8 sequence; escape as \uXXXX (surrogate pairs above the BMP).
      uint32_t cp = 0;
      int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      if (len == 1 || k + static_cast<size_t>(len) > s.size()) {
        cp = 0xfffd;
        len = 1;
      } else {
        cp = c & (0x7f >> len);
        for (int t = 1; t < len; ++t)
          cp = (cp << 6) | (static_cast<unsigned char>(s[k + t]) & 0x3f);
      }
      k += static_cast<size_t>(len - 1);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
                      0xdc00 + (cp & 0x3ff));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      *out += buf;
    }
  }
  *out += '"';
}

Status JsonValue(const Value& v, const JsonOptions& opt, int depth, std::string* out) {
  if (depth > 256) return InvalidArgument("tojson: nesting too deep");
  const std::string item_sep = !opt.item_sep.empty() ? opt.item_sep : opt.indent >= 0 ? "," : ", ";
  const std::string key_sep = !opt.key_sep.empty() ? opt.key_sep : ": ";
  auto newline = [&](int level) {
    if (opt.indent < 0) return;
    *out += '\n';
    out->append(static_cast<size_t>(opt.indent) * static_cast<size_t>(level), ' ');
  };
  switch (v.kind) {
    case Value::Kind::kNone:
      *out += "null";
      return Status::Ok();
    case Value::Kind::kBool:
      *out += v.b ? "true" : "false";
      return Status::Ok();
    case Value::Kind::kInt:
      *out += std::to_string(v.i);
      return Status::Ok();
    case Value::Kind::kFloat:
      if (std::isnan(v.f)) {
        *out += "NaN";
      } else if (std::isinf(v.f)) {
        *out += v.f > 0 ? "Infinity" : "-Infinity";
      } else {
        *out += FloatRepr(v.f);
      }
      return Status::Ok();
    case Value::Kind::kString:
      JsonString(v.s, opt.ensure_ascii, out);
      return Status::Ok();
    case Value::Kind::kList: {
      if (v.list->items.empty()) {
        *out += "[]";
        return Status::Ok();
      }
      *out += '[';
      for (size_t k = 0; k < v.list->items.size(); ++k) {
        if (k) *out += item_sep;
        newline(depth + 1);
        SHOAL_RETURN_IF_ERROR(JsonValue(v.list->items[k], opt, depth + 1, out));
      }
      newline(depth);
      *out += ']';
      return Status::Ok();
    }
    case Value::Kind::kDict: {
      if (v.dict->items.empty()) {
        *out += "{}";
        return Status::Ok();
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (opt.sort_keys) {
        std::stable_sort(items.begin(), items.end(),
                         [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      *out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) *out += item_sep;
        newline(depth + 1);
        JsonString(items[k]->first, opt.ensure_ascii, out);
        *out += key_sep;
        SHOAL_RETURN_IF_ERROR(JsonValue(items[k]->second, opt, depth + 1, out));
      }
      newline(depth);
      *out += '}';
      return Status::Ok();
    }
    case Value::Kind::kUndefined:
      return InvalidArgument("Object of type Undefined is not JSON serializable");
    case Value::Kind::kCallable:
      return InvalidArgument("Object of type function is not JSON serializable");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> ToJson(const Value& v, const JsonOptions& opt) {
  std::string out;
  SHOAL_RETURN_IF_ERROR(JsonValue(v, opt, 0, &out));
  return out;
}

std::vector<std::string_view> CodePoints(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  size_t k = 0;
  while (k < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (k + len > s.size()) len = 1;
    for (size_t t = 1; t < len; ++t) {
      if ((static_cast<unsigned char>(s[k + t]) & 0xc0) != 0x80) {
        len = 1;
        break;
      }
    }
    out.push_back(s.substr(k, len));
    k += len;
  }
  return out;
}

}  // namespace shoal::model::jinja
