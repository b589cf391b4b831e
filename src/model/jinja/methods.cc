// Methods of str, dict and list values (obj.name(...)), with Python's behaviour.
#include <algorithm>
#include <cctype>

#include "model/jinja/interp.h"
#include "model/jinja/strings.h"

namespace shoal::model::jinja {

namespace {

using Fn = std::function<StatusOr<Value>(Interp&, CallArgs&)>;

Value Bind(const std::string& name, Fn fn) { return Value::Function(name, std::move(fn)); }

StatusOr<std::string> StrArg(const CallArgs& a, size_t pos, std::string_view kw, const char* fn) {
  const Value* v = Arg(a, pos, kw);
  if (!v) return InvalidArgument(std::string(fn) + "() missing argument");
  if (!v->is_string()) {
    return InvalidArgument(std::string(fn) + "() argument must be str, not " + v->TypeName());
  }
  return v->s;
}

// The chars argument of strip/lstrip/rstrip: None or missing means whitespace.
StatusOr<const std::string*> CharsArg(const CallArgs& a) {
  const Value* v = Arg(a, 0, "chars");
  if (!v || v->is_none()) return static_cast<const std::string*>(nullptr);
  if (!v->is_string()) return InvalidArgument("strip arg must be None or str");
  return &v->s;
}

Value StrMethod(const Value& self, const std::string& name) {
  const std::string s = self.s;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    return Bind(name, [s, left, right](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_ASSIGN_OR_RETURN(const std::string* chars, CharsArg(a));
      return Value::String(Strip(s, chars, left, right));
    });
  }
  if (name == "split" || name == "rsplit") {
    const bool from_right = name == "rsplit";
    return Bind(name, [s, from_right](Interp&, CallArgs& a) -> StatusOr<Value> {
      const Value* sep = Arg(a, 0, "sep");
      const Value* maxsplit = Arg(a, 1, "maxsplit");
      int64_t max = -1;
      if (maxsplit && maxsplit->kind == Value::Kind::kInt) max = maxsplit->i;
      std::vector<std::string> parts;
      if (!sep || sep->is_none()) {
        parts = SplitWhitespace(s, max, from_right);
      } else {
        if (!sep->is_string()) return InvalidArgument("split() separator must be str");
        if (sep->s.empty()) return InvalidArgument("empty separator");
        parts = Split(s, sep->s, max, from_right);
      }
      std::vector<Value> out;
      for (std::string& p : parts) out.push_back(Value::String(std::move(p)));
      return Value::List(std::move(out));
    });
  }
  if (name == "splitlines") {
    return Bind(name, [s](Interp&, CallArgs&) -> StatusOr<Value> {
      std::vector<Value> out;
      for (std::string& l : SplitLines(s)) out.push_back(Value::String(std::move(l)));
      return Value::List(std::move(out));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool start = name == "startswith";
    return Bind(name, [s, start](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, start ? "startswith" : "endswith", 1, 1));
      std::vector<std::string> cands;
      const Value& p = a.positional[0];
      if (p.is_string()) {
        cands.push_back(p.s);
      } else if (p.is_list()) {
        for (const Value& x : p.list->items) {
          if (!x.is_string()) return InvalidArgument("startswith/endswith: tuple of str needed");
          cands.push_back(x.s);
        }
      } else {
        return InvalidArgument("startswith/endswith first arg must be str or a tuple of str");
      }
      for (const std::string& c : cands) {
        if (c.size() > s.size()) continue;
        if (start ? s.compare(0, c.size(), c) == 0
                  : s.compare(s.size() - c.size(), c.size(), c) == 0) {
          return Value::Bool(true);
        }
      }
      return Value::Bool(false);
    });
  }
  if (name == "replace") {
    return Bind(name, [s](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_ASSIGN_OR_RETURN(std::string from, StrArg(a, 0, "old", "replace"));
      SHOAL_ASSIGN_OR_RETURN(std::string to, StrArg(a, 1, "new", "replace"));
      const Value* c = Arg(a, 2, "count");
      const int64_t count = c && c->kind == Value::Kind::kInt ? c->i : -1;
      return Value::String(Replace(s, from, to, count));
    });
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    return Bind(name, [s, name](Interp&, CallArgs&) -> StatusOr<Value> {
      return Value::String(ChangeCase(s, name));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return Bind(name, [s, name](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_ASSIGN_OR_RETURN(std::string sub, StrArg(a, 0, "sub", name.c_str()));
      if (name == "count") {
        if (sub.empty()) return Value::Int(Utf8Length(s) + 1);
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::Int(n);
      }
      const size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
      if (p == std::string::npos) {
        if (name == "index" || name == "rindex") return InvalidArgument("substring not found");
        return Value::Int(-1);
      }
      return Value::Int(Utf8Length(std::string_view(s).substr(0, p)));
    });
  }
  if (name == "join") {
    return Bind(name, [s](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "join", 1, 1));
      SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(a.positional[0]));
      std::string out;
      for (size_t k = 0; k < items.size(); ++k) {
        if (!items[k].is_string()) {
          return InvalidArgument("sequence item " + std::to_string(k) +
                                 ": expected str instance, " + items[k].TypeName() + " found");
        }
        if (k) out += s;
        out += items[k].s;
      }
      return Value::String(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    return Bind(name, [s, name](Interp&, CallArgs&) -> StatusOr<Value> {
      return Value::Bool(CharClass(s, name));
    });
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const bool prefix = name == "removeprefix";
    return Bind(name, [s, prefix](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_ASSIGN_OR_RETURN(std::string x,
                             StrArg(a, 0, "x", prefix ? "removeprefix" : "removesuffix"));
      if (prefix && s.compare(0, x.size(), x) == 0) return Value::String(s.substr(x.size()));
      if (!prefix && x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
        return Value::String(s.substr(0, s.size() - x.size()));
      }
      return Value::String(s);
    });
  }
  if (name == "format") {
    return Bind(name, [s](Interp&, CallArgs& a) -> StatusOr<Value> { return BraceFormat(s, a); });
  }
  return Value::Undefined();
}

Value DictMethod(const Value& self, const std::string& name) {
  auto d = self.dict;
  if (name == "get") {
    return Bind(name, [d](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "get", 1, 2));
      const Value& k = a.positional[0];
      if (k.is_string()) {
        if (const Value* v = d->Find(k.s)) return *v;
      }
      return a.positional.size() > 1 ? a.positional[1] : Value::None();
    });
  }
  if (name == "keys" || name == "values" || name == "items") {
    return Bind(name, [d, name](Interp&, CallArgs&) -> StatusOr<Value> {
      std::vector<Value> out;
      for (const auto& [k, v] : d->items) {
        if (name == "keys") {
          out.push_back(Value::String(k));
        } else if (name == "values") {
          out.push_back(v);
        } else {
          out.push_back(Value::Tuple({Value::String(k), v}));
        }
      }
      return Value::List(std::move(out));
    });
  }
  if (name == "pop") {
    return Bind(name, [d](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "pop", 1, 2));
      const Value& k = a.positional[0];
      if (k.is_string()) {
        if (const Value* v = d->Find(k.s)) {
          Value r = *v;
          d->Erase(k.s);
          return r;
        }
      }
      if (a.positional.size() > 1) return a.positional[1];
      return InvalidArgument("KeyError: " + k.Repr());
    });
  }
  if (name == "update") {
    return Bind(name, [d](Interp&, CallArgs& a) -> StatusOr<Value> {
      for (const Value& p : a.positional) {
        if (!p.is_dict()) return InvalidArgument("update() needs a dict");
        for (const auto& [k, v] : p.dict->items) d->Set(k, v);
      }
      for (const auto& [k, v] : a.kwargs) d->Set(k, v);
      return Value::None();
    });
  }
  if (name == "setdefault") {
    return Bind(name, [d](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "setdefault", 1, 2));
      if (!a.positional[0].is_string()) return InvalidArgument("dict keys must be strings");
      if (const Value* v = d->Find(a.positional[0].s)) return *v;
      Value dv = a.positional.size() > 1 ? a.positional[1] : Value::None();
      d->Set(a.positional[0].s, dv);
      return dv;
    });
  }
  return Value::Undefined();
}

Value ListMethod(const Value& self, const std::string& name) {
  auto l = self.list;
  const bool tuple = self.is_tuple;
  if (name == "index" || name == "count") {
    return Bind(name, [l, name](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, name.c_str(), 1, 1));
      int64_t n = 0;
      for (size_t k = 0; k < l->items.size(); ++k) {
        if (!Equal(l->items[k], a.positional[0])) continue;
        if (name == "index") return Value::Int(static_cast<int64_t>(k));
        ++n;
      }
      if (name == "index") return InvalidArgument(a.positional[0].Repr() + " is not in list");
      return Value::Int(n);
    });
  }
  if (tuple) return Value::Undefined();
  if (name == "append") {
    return Bind(name, [l](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "append", 1, 1));
      if (l->items.size() >= (1u << 24)) return ResourceExhausted("list too long");
      l->items.push_back(a.positional[0]);
      return Value::None();
    });
  }
  if (name == "extend") {
    return Bind(name, [l](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "extend", 1, 1));
      SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(a.positional[0]));
      if (l->items.size() + items.size() >= (1u << 24)) return ResourceExhausted("list too long");
      l->items.insert(l->items.end(), items.begin(), items.end());
      return Value::None();
    });
  }
  if (name == "insert") {
    return Bind(name, [l](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "insert", 2, 2));
      if (a.positional[0].kind != Value::Kind::kInt)
        return InvalidArgument("insert() index must be int");
      int64_t n = static_cast<int64_t>(l->items.size());
      int64_t k = a.positional[0].i;
      if (k < 0) k += n;
      k = std::clamp<int64_t>(k, 0, n);
      l->items.insert(l->items.begin() + k, a.positional[1]);
      return Value::None();
    });
  }
  if (name == "pop") {
    return Bind(name, [l](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "pop", 0, 1));
      const int64_t n = static_cast<int64_t>(l->items.size());
      if (n == 0) return InvalidArgument("pop from empty list");
      int64_t k = n - 1;
      if (!a.positional.empty()) {
        if (a.positional[0].kind != Value::Kind::kInt)
          return InvalidArgument("pop() index must be int");
        k = a.positional[0].i;
        if (k < 0) k += n;
      }
      if (k < 0 || k >= n) return InvalidArgument("pop index out of range");
      Value r = l->items[static_cast<size_t>(k)];
      l->items.erase(l->items.begin() + k);
      return r;
    });
  }
  if (name == "remove") {
    return Bind(name, [l](Interp&, CallArgs& a) -> StatusOr<Value> {
      SHOAL_RETURN_IF_ERROR(CheckArgs(a, "remove", 1, 1));
      for (size_t k = 0; k < l->items.size(); ++k) {
        if (Equal(l->items[k], a.positional[0])) {
          l->items.erase(l->items.begin() + static_cast<ptrdiff_t>(k));
          return Value::None();
        }
      }
      return InvalidArgument("list.remove(x): x not in list");
    });
  }
  if (name == "reverse") {
    return Bind(name, [l](Interp&, CallArgs&) -> StatusOr<Value> {
      std::reverse(l->items.begin(), l->items.end());
      return Value::None();
    });
  }
  if (name == "copy") {
    return Bind(name, [l](Interp&, CallArgs&) -> StatusOr<Value> { return Value::List(l->items); });
  }
  return Value::Undefined();
}

}  // namespace

Value GetMethod(const Value& obj, const std::string& name) {
  switch (obj.kind) {
    case Value::Kind::kString:
      return StrMethod(obj, name);
    case Value::Kind::kDict:
      return DictMethod(obj, name);
    case Value::Kind::kList:
      return ListMethod(obj, name);
    default:
      return Value::Undefined();
  }
}

}  // namespace shoal::model::jinja
