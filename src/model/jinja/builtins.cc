// Helpers shared by the builtins, the global functions (range, namespace, dict,
// raise_exception, strftime_now) and the `is` tests.
#include <ctime>

#include "model/jinja/interp.h"

namespace shoal::model::jinja {

Status UndefinedError(const Value& v) {
  return InvalidArgument(v.s.empty() ? "value is undefined" : v.s);
}

Status CheckArgs(const CallArgs& args, const char* fn, size_t min_pos, size_t max_pos) {
  if (args.positional.size() < min_pos) {
    return InvalidArgument(std::string(fn) + "() takes at least " + std::to_string(min_pos) +
                           " argument(s)");
  }
  if (args.positional.size() > max_pos) {
    return InvalidArgument(std::string(fn) + "() takes at most " + std::to_string(max_pos) +
                           " argument(s)");
  }
  return Status::Ok();
}

const Value* Arg(const CallArgs& args, size_t pos, std::string_view kw) {
  if (pos < args.positional.size()) return &args.positional[pos];
  return args.Kwarg(kw);
}

StatusOr<std::vector<Value>> Iterate(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kList:
      return v.list->items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict->items.size());
      for (const auto& kv : v.dict->items) keys.push_back(Value::String(kv.first));
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (std::string_view c : CodePoints(v.s)) {
        Value ch = Value::String({});
        ch.s.append(c.data(), c.size());
        chars.push_back(std::move(ch));
      }
      return chars;
    }
    case Value::Kind::kUndefined:
      return std::vector<Value>{};
    default:
      return InvalidArgument(std::string("'") + v.TypeName() + "' object is not iterable");
  }
}

int64_t Utf8Length(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

namespace {

constexpr int64_t kMaxRange = 1'000'000;

StatusOr<Value> Range(Interp&, CallArgs& a) {
  SHOAL_RETURN_IF_ERROR(CheckArgs(a, "range", 1, 3));
  int64_t v[3] = {0, 0, 1};
  for (size_t k = 0; k < a.positional.size(); ++k) {
    const Value& x = a.positional[k];
    if (x.kind != Value::Kind::kInt && x.kind != Value::Kind::kBool) {
      return InvalidArgument("range() arguments must be integers, not " + x.TypeName());
    }
    v[k] = x.kind == Value::Kind::kBool ? x.b : x.i;
  }
  int64_t start = 0, stop = v[0], step = 1;
  if (a.positional.size() >= 2) {
    start = v[0];
    stop = v[1];
  }
  if (a.positional.size() == 3) step = v[2];
  if (step == 0) return InvalidArgument("range() arg 3 must not be zero");
  std::vector<Value> out;
  for (int64_t x = start; step > 0 ? x < stop : x > stop; x += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) {
      return ResourceExhausted("range() longer than " + std::to_string(kMaxRange));
    }
    out.push_back(Value::Int(x));
  }
  return Value::List(std::move(out));
}

StatusOr<Value> Namespace(Interp&, CallArgs& a) {
  Value ns = Value::Dict();
  ns.is_namespace = true;
  for (const Value& p : a.positional) {
    if (!p.is_dict()) return InvalidArgument("namespace() takes keyword arguments or a dict");
    for (const auto& [k, v] : p.dict->items) ns.dict->Set(k, v);
  }
  for (const auto& [k, v] : a.kwargs) ns.dict->Set(k, v);
  return ns;
}

StatusOr<Value> MakeDict(Interp&, CallArgs& a) {
  Value d = Value::Dict();
  for (const Value& p : a.positional) {
    if (!p.is_dict()) return InvalidArgument("dict() takes keyword arguments or a dict");
    for (const auto& [k, v] : p.dict->items) d.dict->Set(k, v);
  }
  for (const auto& [k, v] : a.kwargs) d.dict->Set(k, v);
  return d;
}

StatusOr<Value> RaiseException(Interp&, CallArgs& a) {
  const std::string msg = a.positional.empty() ? "" : a.positional[0].Str();
  return InvalidArgument("template raised an exception: " + msg);
}

StatusOr<Value> StrftimeNow(Interp& in, CallArgs& a) {
  SHOAL_RETURN_IF_ERROR(CheckArgs(a, "strftime_now", 1, 1));
  if (!a.positional[0].is_string()) return InvalidArgument("strftime_now() needs a format string");
  const std::time_t t = in.Now();
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[256];
  const size_t n = std::strftime(buf, sizeof(buf), a.positional[0].s.c_str(), &tm);
  if (n == 0 && !a.positional[0].s.empty()) return InvalidArgument("strftime_now: format too long");
  return Value::String(std::string(buf, n));
}

}  // namespace

Value GetGlobal(const std::string& name) {
  if (name == "range") return Value::Function("range", Range);
  if (name == "namespace") return Value::Function("namespace", Namespace);
  if (name == "dict") return Value::Function("dict", MakeDict);
  if (name == "raise_exception") return Value::Function("raise_exception", RaiseException);
  if (name == "strftime_now") return Value::Function("strftime_now", StrftimeNow);
  return Value::Undefined();
}

namespace {

bool IsLower(const std::string& s, bool upper) {
  bool cased = false;
  for (unsigned char c : s) {
    if (upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) return false;
    cased |= std::isalpha(c) != 0;
  }
  return cased;
}

}  // namespace

StatusOr<bool> CallTest(Interp& in, const std::string& name, const Value& v, CallArgs& args) {
  using K = Value::Kind;
  auto arg0 = [&]() -> StatusOr<Value> {
    if (args.positional.empty()) return InvalidArgument("test '" + name + "' needs an argument");
    return args.positional[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.kind == K::kInt || v.kind == K::kFloat || v.kind == K::kBool;
  if (name == "integer") return v.kind == K::kInt;
  if (name == "float") return v.kind == K::kFloat;
  if (name == "boolean") return v.kind == K::kBool;
  if (name == "true") return v.kind == K::kBool && v.b;
  if (name == "false") return v.kind == K::kBool && !v.b;
  if (name == "mapping") return v.is_dict() && !v.is_namespace;
  if (name == "iterable") {
    return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  }
  if (name == "sequence") {
    return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  }
  if (name == "callable") return v.is_callable();
  if (name == "lower") return v.is_string() && IsLower(v.s, false);
  if (name == "upper") return v.is_string() && IsLower(v.s, true);
  if (name == "escaped") return false;
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.kind != K::kInt && v.kind != K::kBool) {
      if (v.is_undefined()) return UndefinedError(v);
      return InvalidArgument("test '" + name + "' needs an integer, not " + v.TypeName());
    }
    const int64_t x = v.kind == K::kBool ? v.b : v.i;
    if (name == "odd") return x % 2 != 0;
    if (name == "even") return x % 2 == 0;
    SHOAL_ASSIGN_OR_RETURN(Value d, arg0());
    if (d.kind != K::kInt || d.i == 0)
      return InvalidArgument("divisibleby needs a non-zero integer");
    return x % d.i == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") {
    SHOAL_ASSIGN_OR_RETURN(Value o, arg0());
    return Equal(v, o);
  }
  if (name == "ne" || name == "!=") {
    SHOAL_ASSIGN_OR_RETURN(Value o, arg0());
    return !Equal(v, o);
  }
  if (name == "sameas") {
    SHOAL_ASSIGN_OR_RETURN(Value o, arg0());
    if (v.kind != o.kind) return false;
    if (v.is_list()) return v.list == o.list;
    if (v.is_dict()) return v.dict == o.dict;
    return Equal(v, o);
  }
  if (name == "lt" || name == "lessthan" || name == "<" || name == "gt" || name == "greaterthan" ||
      name == ">" || name == "le" || name == "<=" || name == "ge" || name == ">=") {
    SHOAL_ASSIGN_OR_RETURN(Value o, arg0());
    if (name == "lt" || name == "lessthan" || name == "<") return Less(v, o);
    if (name == "gt" || name == "greaterthan" || name == ">") return Less(o, v);
    if (name == "le" || name == "<=") {
      SHOAL_ASSIGN_OR_RETURN(bool gt, Less(o, v));
      return !gt;
    }
    SHOAL_ASSIGN_OR_RETURN(bool lt, Less(v, o));
    return !lt;
  }
  if (name == "in") {
    SHOAL_ASSIGN_OR_RETURN(Value o, arg0());
    CallArgs a;
    a.positional.push_back(v);
    if (o.is_string()) return v.is_string() && o.s.find(v.s) != std::string::npos;
    if (o.is_dict()) return v.is_string() && o.dict->Find(v.s) != nullptr;
    if (o.is_list()) {
      for (const Value& x : o.list->items) {
        if (Equal(x, v)) return true;
      }
      return false;
    }
    return InvalidArgument("argument of type '" + o.TypeName() + "' is not iterable");
  }
  (void)in;
  return InvalidArgument("no test named '" + name + "'");
}

}  // namespace shoal::model::jinja
