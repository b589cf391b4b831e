// Filters (value | name(args)), as Jinja2 defines them, with tojson as transformers defines it
// (json.dumps with ensure_ascii=False, keys in insertion order unless sort_keys).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "model/jinja/interp.h"
#include "model/jinja/strings.h"

namespace shoal::model::jinja {

namespace {

bool BoolArg(const CallArgs& a, size_t pos, std::string_view kw, bool def) {
  const Value* v = Arg(a, pos, kw);
  return v ? v->Truthy() : def;
}

StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kString:
      return Utf8Length(v.s);
    case Value::Kind::kList:
      return static_cast<int64_t>(v.list->items.size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict->items.size());
    case Value::Kind::kUndefined:
      return 0;
    default:
      return InvalidArgument("object of type '" + v.TypeName() + "' has no len()");
  }
}

// Attribute lookup for filters' attribute= arguments ("a.b" and "0" allowed).
StatusOr<Value> AttrPath(Interp& in, const Value& item, const std::string& path) {
  Value cur = item;
  size_t b = 0;
  while (true) {
    const size_t e = path.find('.', b);
    const std::string part = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
    Value key = Value::String(part);
    if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      key = Value::Int(std::strtoll(part.c_str(), nullptr, 10));
    }
    if (cur.is_undefined()) return cur;
    SHOAL_ASSIGN_OR_RETURN(cur, in.GetItem(cur, key));
    if (e == std::string::npos) return cur;
    b = e + 1;
  }
}

StatusOr<std::string> AttrArg(const CallArgs& a, size_t pos) {
  const Value* v = Arg(a, pos, "attribute");
  if (!v || v->is_none()) return std::string();
  if (v->is_string()) return v->s;
  if (v->kind == Value::Kind::kInt) return std::to_string(v->i);
  return InvalidArgument("attribute must be a string");
}

// Sort key comparison, case-insensitive for strings unless case_sensitive.
StatusOr<bool> KeyLess(const Value& a, const Value& b, bool case_sensitive) {
  if (!case_sensitive && a.is_string() && b.is_string()) {
    return ChangeCase(a.s, "lower") < ChangeCase(b.s, "lower");
  }
  return Less(a, b);
}

StatusOr<std::vector<Value>> SortValues(Interp& in, std::vector<Value> items, bool reverse,
                                        bool case_sensitive, const std::string& attr) {
  std::vector<Value> keys;
  for (const Value& v : items) {
    if (attr.empty()) {
      keys.push_back(v);
    } else {
      SHOAL_ASSIGN_OR_RETURN(Value k, AttrPath(in, v, attr));
      keys.push_back(std::move(k));
    }
  }
  std::vector<size_t> idx(items.size());
  for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
  Status err;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
    if (!err.ok()) return false;
    StatusOr<bool> r = reverse ? KeyLess(keys[y], keys[x], case_sensitive)
                               : KeyLess(keys[x], keys[y], case_sensitive);
    if (!r.ok()) {
      err = r.status();
      return false;
    }
    return *r;
  });
  SHOAL_RETURN_IF_ERROR(err);
  std::vector<Value> out;
  for (size_t k : idx) out.push_back(items[k]);
  return out;
}

// selectattr/rejectattr/select/reject: keep items whose (attribute's) test result == keep.
StatusOr<Value> SelectFilter(Interp& in, const Value& input, CallArgs& a, bool by_attr, bool keep) {
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (a.positional.empty()) return InvalidArgument("selectattr/rejectattr need an attribute");
    SHOAL_ASSIGN_OR_RETURN(attr, AttrArg(a, 0));
    next = 1;
  }
  std::string test;
  CallArgs targs;
  if (next < a.positional.size()) {
    if (!a.positional[next].is_string()) return InvalidArgument("test name must be a string");
    test = a.positional[next].s;
    targs.positional.assign(a.positional.begin() + static_cast<ptrdiff_t>(next) + 1,
                            a.positional.end());
  }
  std::vector<Value> out;
  for (const Value& item : items) {
    SHOAL_RETURN_IF_ERROR(in.Step());
    Value v = item;
    if (by_attr) {
      SHOAL_ASSIGN_OR_RETURN(v, AttrPath(in, item, attr));
    }
    bool r = v.Truthy();
    if (!test.empty()) {
      SHOAL_ASSIGN_OR_RETURN(r, in.ApplyTest(test, v, targs));
    }
    if (r == keep) out.push_back(item);
  }
  return Value::List(std::move(out));
}

StatusOr<Value> MapFilter(Interp& in, const Value& input, CallArgs& a) {
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::vector<Value> out;
  if (const Value* attr = a.Kwarg("attribute")) {
    const Value* def = a.Kwarg("default");
    for (const Value& item : items) {
      SHOAL_ASSIGN_OR_RETURN(Value v, AttrPath(in, item, attr->Str()));
      if (v.is_undefined() && def) v = *def;
      out.push_back(std::move(v));
    }
    return Value::List(std::move(out));
  }
  if (a.positional.empty() || !a.positional[0].is_string()) {
    return InvalidArgument("map needs a filter name or attribute=");
  }
  CallArgs fargs;
  fargs.positional.assign(a.positional.begin() + 1, a.positional.end());
  fargs.kwargs = a.kwargs;
  for (const Value& item : items) {
    CallArgs copy = fargs;
    SHOAL_ASSIGN_OR_RETURN(Value v, in.ApplyFilter(a.positional[0].s, item, copy));
    out.push_back(std::move(v));
  }
  return Value::List(std::move(out));
}

StatusOr<Value> ToJsonFilter(const Value& input, CallArgs& a) {
  JsonOptions opt;
  if (const Value* ind = Arg(a, 0, "indent")) {
    if (ind->kind == Value::Kind::kInt) {
      opt.indent = static_cast<int>(std::clamp<int64_t>(ind->i, 0, 64));
    } else if (!ind->is_none()) {
      return InvalidArgument("tojson indent must be an integer");
    }
  }
  opt.ensure_ascii = BoolArg(a, 1, "ensure_ascii", false);
  if (const Value* seps = Arg(a, 2, "separators")) {
    if (seps->is_list() && seps->list->items.size() == 2) {
      opt.item_sep = seps->list->items[0].Str();
      opt.key_sep = seps->list->items[1].Str();
    }
  }
  opt.sort_keys = BoolArg(a, 3, "sort_keys", false);
  SHOAL_ASSIGN_OR_RETURN(std::string s, ToJson(input, opt));
  return Value::String(std::move(s));
}

StatusOr<Value> IndentFilter(const Value& input, CallArgs& a) {
  std::string ind = "    ";
  if (const Value* w = Arg(a, 0, "width")) {
    if (w->is_string()) {
      ind = w->s;
    } else if (w->kind == Value::Kind::kInt) {
      ind = std::string(static_cast<size_t>(std::clamp<int64_t>(w->i, 0, 256)), ' ');
    }
  }
  const bool first = BoolArg(a, 1, "first", false);
  const bool blank = BoolArg(a, 2, "blank", false);
  std::vector<std::string> lines = SplitLines(input.Str() + "\n");
  std::string rv;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k > 0) rv += "\n";
    if (k > 0 && (blank || !lines[k].empty())) rv += ind;
    rv += lines[k];
  }
  if (first) rv = ind + rv;
  return Value::String(std::move(rv));
}

StatusOr<Value> RoundFilter(const Value& input, CallArgs& a) {
  if (!input.is_number() && input.kind != Value::Kind::kBool) {
    return InvalidArgument("round needs a number, not " + input.TypeName());
  }
  int64_t prec = 0;
  if (const Value* p = Arg(a, 0, "precision"); p && p->kind == Value::Kind::kInt) prec = p->i;
  prec = std::clamp<int64_t>(prec, -20, 20);
  std::string method = "common";
  if (const Value* m = Arg(a, 1, "method"); m && m->is_string()) method = m->s;
  const double scale = std::pow(10.0, static_cast<double>(prec));
  const double x = input.AsDouble() * scale;
  double r;
  if (method == "common") {
    r = std::round(x);
  } else if (method == "ceil") {
    r = std::ceil(x);
  } else if (method == "floor") {
    r = std::floor(x);
  } else {
    return InvalidArgument("round method must be 'common', 'ceil' or 'floor'");
  }
  return Value::Float(r / scale);
}

StatusOr<Value> MinMax(Interp& in, const Value& input, CallArgs& a, bool want_max) {
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  const bool cs = BoolArg(a, 0, "case_sensitive", false);
  SHOAL_ASSIGN_OR_RETURN(std::string attr, AttrArg(a, 1));
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> sorted, SortValues(in, items, false, cs, attr));
  return want_max ? sorted.back() : sorted.front();
}

}  // namespace

StatusOr<Value> CallFilter(Interp& in, const std::string& name, const Value& v, CallArgs& a) {
  if (name == "tojson") return ToJsonFilter(v, a);
  if (name == "trim") {
    const Value* chars = Arg(a, 0, "chars");
    const std::string* cs = chars && chars->is_string() ? &chars->s : nullptr;
    return Value::String(Strip(v.Str(), cs, true, true));
  }
  if (name == "length" || name == "count") {
    SHOAL_ASSIGN_OR_RETURN(int64_t n, Length(v));
    return Value::Int(n);
  }
  if (name == "upper" || name == "lower" || name == "capitalize") {
    return Value::String(ChangeCase(v.Str(), name));
  }
  if (name == "title") return Value::String(ChangeCase(v.Str(), "jinja_title"));
  if (name == "string") return Value::String(v.Str());
  if (name == "safe") return v.is_string() ? v : Value::String(v.Str());
  if (name == "e" || name == "escape") {
    std::string out;
    for (char c : v.Str()) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out += c;
      }
    }
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    if (a.positional.size() < 2) return InvalidArgument("replace needs two arguments");
    const Value* c = Arg(a, 2, "count");
    return Value::String(Replace(v.Str(), a.positional[0].Str(), a.positional[1].Str(),
                                 c && c->kind == Value::Kind::kInt ? c->i : -1));
  }
  if (name == "join") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    const Value* sep = Arg(a, 0, "d");
    SHOAL_ASSIGN_OR_RETURN(std::string attr, AttrArg(a, 1));
    std::string out;
    for (size_t k = 0; k < items.size(); ++k) {
      if (k && sep) out += sep->Str();
      Value item = items[k];
      if (!attr.empty()) {
        SHOAL_ASSIGN_OR_RETURN(item, AttrPath(in, item, attr));
      }
      out += item.Str();
    }
    return Value::String(std::move(out));
  }
  if (name == "first" || name == "last") {
    if (v.is_string()) {
      std::vector<std::string_view> cps = CodePoints(v.s);
      if (cps.empty()) return Value::Undefined("No first item, sequence was empty.");
      return Value::String(std::string(name == "first" ? cps.front() : cps.back()));
    }
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    if (items.empty()) return Value::Undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "default" || name == "d") {
    const bool boolean = BoolArg(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.Truthy())) {
      const Value* d = Arg(a, 0, "default_value");
      return d ? *d : Value::String("");
    }
    return v;
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::List();
    if (!v.is_dict()) return InvalidArgument("items filter needs a mapping, not " + v.TypeName());
    std::vector<Value> out;
    for (const auto& [k, x] : v.dict->items) out.push_back(Value::Tuple({Value::String(k), x}));
    return Value::List(std::move(out));
  }
  if (name == "list") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    return Value::List(std::move(items));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string_view> cps = CodePoints(v.s);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value::String(std::move(out));
    }
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "selectattr") return SelectFilter(in, v, a, true, true);
  if (name == "rejectattr") return SelectFilter(in, v, a, true, false);
  if (name == "select") return SelectFilter(in, v, a, false, true);
  if (name == "reject") return SelectFilter(in, v, a, false, false);
  if (name == "map") return MapFilter(in, v, a);
  if (name == "attr") {
    if (a.positional.empty()) return InvalidArgument("attr needs a name");
    // Python's getattr: methods only, never a dict's items.
    if (v.is_undefined()) return UndefinedError(v);
    Value m = GetMethod(v, a.positional[0].Str());
    if (m.is_undefined()) {
      return Value::Undefined("'" + v.TypeName() + " object' has no attribute '" +
                              a.positional[0].Str() + "'");
    }
    return m;
  }
  if (name == "int" || name == "float") {
    const bool want_int = name == "int";
    const Value* def = Arg(a, 0, "default");
    Value fallback = def ? *def : (want_int ? Value::Int(0) : Value::Float(0));
    double d = 0;
    if (v.kind == Value::Kind::kInt || v.kind == Value::Kind::kBool ||
        v.kind == Value::Kind::kFloat) {
      d = v.kind == Value::Kind::kBool ? v.b : v.AsDouble();
      if (want_int && v.kind != Value::Kind::kFloat)
        return Value::Int(v.kind == Value::Kind::kBool ? v.b : v.i);
    } else if (v.is_string()) {
      const std::string t = Strip(v.s, nullptr, true, true);
      char* end = nullptr;
      if (want_int) {
        const long long x = std::strtoll(t.c_str(), &end, 10);
        if (!t.empty() && end && *end == '\0') return Value::Int(x);
      }
      d = std::strtod(t.c_str(), &end);
      if (t.empty() || !end || *end != '\0') return fallback;
    } else {
      return fallback;
    }
    if (want_int) {
      if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return fallback;
      return Value::Int(static_cast<int64_t>(d));
    }
    return Value::Float(d);
  }
  if (name == "abs") {
    if (v.kind == Value::Kind::kInt) {
      if (v.i == INT64_MIN) return InvalidArgument("integer overflow");
      return Value::Int(v.i < 0 ? -v.i : v.i);
    }
    if (v.kind == Value::Kind::kFloat) return Value::Float(std::fabs(v.f));
    if (v.kind == Value::Kind::kBool) return Value::Int(v.b);
    return InvalidArgument("bad operand type for abs(): '" + v.TypeName() + "'");
  }
  if (name == "round") return RoundFilter(v, a);
  if (name == "indent") return IndentFilter(v, a);
  if (name == "wordcount") {
    int64_t n = 0;
    bool in_word = false;
    for (unsigned char c : v.Str()) {
      const bool w = std::isalnum(c) || c == '_' || c >= 0x80;
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value::Int(n);
  }
  if (name == "sort") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    SHOAL_ASSIGN_OR_RETURN(std::string attr, AttrArg(a, 2));
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                           SortValues(in, std::move(items), BoolArg(a, 0, "reverse", false),
                                      BoolArg(a, 1, "case_sensitive", false), attr));
    return Value::List(std::move(sorted));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) return InvalidArgument("dictsort needs a mapping");
    const bool cs = BoolArg(a, 0, "case_sensitive", false);
    const Value* by = Arg(a, 1, "by");
    const bool by_value = by && by->is_string() && by->s == "value";
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.dict->items) pairs.push_back(Value::Tuple({Value::String(k), x}));
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                           SortValues(in, std::move(pairs), BoolArg(a, 2, "reverse", false), cs,
                                      by_value ? "1" : "0"));
    return Value::List(std::move(sorted));
  }
  if (name == "unique") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    const bool cs = BoolArg(a, 0, "case_sensitive", false);
    SHOAL_ASSIGN_OR_RETURN(std::string attr, AttrArg(a, 1));
    std::vector<Value> out, seen;
    for (const Value& item : items) {
      Value key = item;
      if (!attr.empty()) {
        SHOAL_ASSIGN_OR_RETURN(key, AttrPath(in, item, attr));
      }
      if (!cs && key.is_string()) key = Value::String(ChangeCase(key.s, "lower"));
      bool dup = false;
      for (const Value& s : seen) dup |= Equal(s, key);
      if (dup) continue;
      seen.push_back(key);
      out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  if (name == "min") return MinMax(in, v, a, false);
  if (name == "max") return MinMax(in, v, a, true);
  if (name == "sum") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    SHOAL_ASSIGN_OR_RETURN(std::string attr, AttrArg(a, 0));
    const Value* start = Arg(a, 1, "start");
    Value total = start ? *start : Value::Int(0);
    for (const Value& item : items) {
      Value x = item;
      if (!attr.empty()) {
        SHOAL_ASSIGN_OR_RETURN(x, AttrPath(in, item, attr));
      }
      if (!x.is_number() || !total.is_number()) {
        return InvalidArgument("sum: unsupported operand types '" + total.TypeName() + "' and '" +
                               x.TypeName() + "'");
      }
      if (x.kind == Value::Kind::kInt && total.kind == Value::Kind::kInt) {
        int64_t r;
        if (__builtin_add_overflow(total.i, x.i, &r)) return InvalidArgument("integer overflow");
        total = Value::Int(r);
      } else {
        total = Value::Float(total.AsDouble() + x.AsDouble());
      }
    }
    return total;
  }
  if (name == "batch") {
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    const Value* n = Arg(a, 0, "linecount");
    if (!n || n->kind != Value::Kind::kInt || n->i <= 0)
      return InvalidArgument("batch needs a positive count");
    const Value* fill = Arg(a, 1, "fill_with");
    std::vector<Value> out, cur;
    for (const Value& item : items) {
      cur.push_back(item);
      if (static_cast<int64_t>(cur.size()) == n->i) {
        out.push_back(Value::List(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      while (fill && !fill->is_none() && static_cast<int64_t>(cur.size()) < n->i)
        cur.push_back(*fill);
      out.push_back(Value::List(std::move(cur)));
    }
    return Value::List(std::move(out));
  }
  if (name == "format") {
    if (a.positional.size() == 1) return PercentFormat(v.Str(), a.positional[0]);
    return PercentFormat(v.Str(), Value::Tuple(a.positional));
  }
  if (name == "center") {
    const Value* w = Arg(a, 0, "width");
    const int64_t width = w && w->kind == Value::Kind::kInt ? std::min<int64_t>(w->i, 4096) : 80;
    std::string s = v.Str();
    const int64_t len = Utf8Length(s);
    if (len >= width) return Value::String(s);
    const int64_t left = (width - len) / 2 + ((width - len) % 2 & width % 2);
    return Value::String(std::string(static_cast<size_t>(left), ' ') + s +
                         std::string(static_cast<size_t>(width - len - left), ' '));
  }
  return InvalidArgument("no filter named '" + name + "'");
}

}  // namespace shoal::model::jinja
