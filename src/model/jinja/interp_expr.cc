// Expressions: names, literals, attribute/item access, slices, calls, filters, tests, arithmetic
// (Python's rules: int / int is a float, // floors, % takes the divisor's sign), comparisons,
// and/or/not and conditional expressions.
#include <cmath>
#include <cstdio>

#include "model/jinja/interp.h"
#include "model/jinja/strings.h"

namespace shoal::model::jinja {

Status AtPos(const Status& s, Pos p);

namespace {

bool IsIntLike(const Value& v) {
  return v.kind == Value::Kind::kInt || v.kind == Value::Kind::kBool;
}
int64_t IntOf(const Value& v) { return v.kind == Value::Kind::kBool ? (v.b ? 1 : 0) : v.i; }
bool IsNum(const Value& v) { return IsIntLike(v) || v.kind == Value::Kind::kFloat; }
double NumOf(const Value& v) {
  return v.kind == Value::Kind::kFloat ? v.f : static_cast<double>(IntOf(v));
}

Status TypeErr(const char* op, const Value& a, const Value& b) {
  return InvalidArgument(std::string("unsupported operand type(s) for ") + op + ": '" +
                         a.TypeName() + "' and '" + b.TypeName() + "'");
}

constexpr size_t kMaxRepeatBytes = 16u << 20;

StatusOr<Value> Arith(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (op == "+") {
    if (IsIntLike(a) && IsIntLike(b)) {
      int64_t r;
      if (__builtin_add_overflow(IntOf(a), IntOf(b), &r))
        return InvalidArgument("integer overflow");
      return Value::Int(r);
    }
    if (IsNum(a) && IsNum(b)) return Value::Float(NumOf(a) + NumOf(b));
    if (a.is_string() && b.is_string()) {
      if (a.s.size() + b.s.size() > kMaxRepeatBytes * 4)
        return ResourceExhausted("string too long");
      return Value::String(a.s + b.s);
    }
    if (a.is_list() && b.is_list()) {
      std::vector<Value> items = a.list->items;
      items.insert(items.end(), b.list->items.begin(), b.list->items.end());
      return a.is_tuple ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
    }
    if (a.is_string() || b.is_string()) {
      return InvalidArgument(std::string("can only concatenate str (not \"") +
                             (a.is_string() ? b : a).TypeName() + "\") to str");
    }
    return TypeErr("+", a, b);
  }
  if (op == "-") {
    if (IsIntLike(a) && IsIntLike(b)) {
      int64_t r;
      if (__builtin_sub_overflow(IntOf(a), IntOf(b), &r))
        return InvalidArgument("integer overflow");
      return Value::Int(r);
    }
    if (IsNum(a) && IsNum(b)) return Value::Float(NumOf(a) - NumOf(b));
    return TypeErr("-", a, b);
  }
  if (op == "*") {
    if (IsIntLike(a) && IsIntLike(b)) {
      int64_t r;
      if (__builtin_mul_overflow(IntOf(a), IntOf(b), &r))
        return InvalidArgument("integer overflow");
      return Value::Int(r);
    }
    if (IsNum(a) && IsNum(b)) return Value::Float(NumOf(a) * NumOf(b));
    const Value* seq = a.is_string() || a.is_list() ? &a : &b;
    const Value* n = seq == &a ? &b : &a;
    if ((seq->is_string() || seq->is_list()) && IsIntLike(*n)) {
      const int64_t times = std::max<int64_t>(0, IntOf(*n));
      const size_t unit = seq->is_string() ? seq->s.size() : seq->list->items.size() * 16;
      if (unit > 0 && static_cast<uint64_t>(times) > kMaxRepeatBytes / unit) {
        return ResourceExhausted("repetition too large");
      }
      if (seq->is_string()) {
        std::string r;
        for (int64_t k = 0; k < times; ++k) r += seq->s;
        return Value::String(std::move(r));
      }
      std::vector<Value> items;
      for (int64_t k = 0; k < times; ++k) {
        items.insert(items.end(), seq->list->items.begin(), seq->list->items.end());
      }
      return Value::List(std::move(items));
    }
    return TypeErr("*", a, b);
  }
  if (op == "/") {
    if (!IsNum(a) || !IsNum(b)) return TypeErr("/", a, b);
    if (NumOf(b) == 0) return InvalidArgument("division by zero");
    return Value::Float(NumOf(a) / NumOf(b));
  }
  if (op == "//") {
    if (!IsNum(a) || !IsNum(b)) return TypeErr("//", a, b);
    if (NumOf(b) == 0) return InvalidArgument("integer division or modulo by zero");
    if (IsIntLike(a) && IsIntLike(b)) {
      const int64_t x = IntOf(a), y = IntOf(b);
      if (x == INT64_MIN && y == -1) return InvalidArgument("integer overflow");
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      return Value::Int(q);
    }
    return Value::Float(std::floor(NumOf(a) / NumOf(b)));
  }
  if (op == "%") {
    if (a.is_string()) return PercentFormat(a.s, b);
    if (!IsNum(a) || !IsNum(b)) return TypeErr("%", a, b);
    if (NumOf(b) == 0) return InvalidArgument("integer division or modulo by zero");
    if (IsIntLike(a) && IsIntLike(b)) {
      const int64_t x = IntOf(a), y = IntOf(b);
      if (y == -1) return Value::Int(0);
      int64_t r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value::Int(r);
    }
    double r = std::fmod(NumOf(a), NumOf(b));
    if (r != 0 && ((r < 0) != (NumOf(b) < 0))) r += NumOf(b);
    return Value::Float(r);
  }
  if (op == "**") {
    if (!IsNum(a) || !IsNum(b)) return TypeErr("**", a, b);
    if (IsIntLike(a) && IsIntLike(b) && IntOf(b) >= 0) {
      int64_t r = 1, base = IntOf(a);
      for (int64_t e = IntOf(b); e > 0; --e) {
        if (__builtin_mul_overflow(r, base, &r)) return InvalidArgument("integer overflow");
        if (r == 0 || r == 1) break;
      }
      return Value::Int(r);
    }
    return Value::Float(std::pow(NumOf(a), NumOf(b)));
  }
  if (op == "~") return Value::String(a.Str() + b.Str());
  return InvalidArgument("unknown operator " + op);
}

StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Value::Kind::kString:
      if (!item.is_string()) {
        return InvalidArgument("'in <string>' requires string as left operand, not " +
                               item.TypeName());
      }
      return container.s.find(item.s) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.list->items) {
        if (Equal(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      return item.is_string() && container.dict->Find(item.s) != nullptr;
    case Value::Kind::kUndefined:
      return false;
    default:
      return InvalidArgument("argument of type '" + container.TypeName() + "' is not iterable");
  }
}

}  // namespace

StatusOr<Value> Interp::Eval(const Expr& e) {
  StatusOr<Value> v = EvalInner(e);
  if (!v.ok()) return AtPos(v.status(), e.pos);
  return v;
}

StatusOr<CallArgs> Interp::EvalArgs(const Expr& e, size_t first) {
  CallArgs args;
  for (size_t k = first; k < e.args.size(); ++k) {
    SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e.args[k]));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [name, x] : e.kwargs) {
    SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*x));
    args.kwargs.emplace_back(name, std::move(v));
  }
  return args;
}

StatusOr<Value> Interp::EvalInner(const Expr& e) {
  SHOAL_RETURN_IF_ERROR(Step());
  switch (e.k) {
    case Expr::K::kLiteral:
      return e.literal;
    case Expr::K::kName:
      return Lookup(e.name);
    case Expr::K::kList:
    case Expr::K::kTuple: {
      std::vector<Value> items;
      for (const ExprPtr& x : e.args) {
        SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*x));
        items.push_back(std::move(v));
      }
      return e.k == Expr::K::kTuple ? Value::Tuple(std::move(items))
                                    : Value::List(std::move(items));
    }
    case Expr::K::kDict: {
      Value d = Value::Dict();
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
        SHOAL_ASSIGN_OR_RETURN(Value key, Eval(*e.args[k]));
        SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e.args[k + 1]));
        if (!key.is_string()) return InvalidArgument("dict keys must be strings here");
        d.dict->Set(key.s, std::move(v));
      }
      return d;
    }
    case Expr::K::kGetAttr: {
      SHOAL_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
      return GetAttr(obj, e.name);
    }
    case Expr::K::kGetItem: {
      SHOAL_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
      SHOAL_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
      return GetItem(obj, key);
    }
    case Expr::K::kSlice:
      return EvalSlice(e);
    case Expr::K::kCall: {
      SHOAL_ASSIGN_OR_RETURN(Value fn, Eval(*e.args[0]));
      SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      return Call(fn, args);
    }
    case Expr::K::kFilter: {
      Value input;
      if (e.args[0]) {
        SHOAL_ASSIGN_OR_RETURN(input, Eval(*e.args[0]));
      }
      SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      return ApplyFilter(e.name, input, args);
    }
    case Expr::K::kTest: {
      SHOAL_ASSIGN_OR_RETURN(Value input, Eval(*e.args[0]));
      SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      SHOAL_ASSIGN_OR_RETURN(bool r, ApplyTest(e.name, input, args));
      return Value::Bool(r != e.negated);
    }
    case Expr::K::kUnary: {
      SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      if (v.is_undefined()) return UndefinedError(v);
      if (!IsNum(v)) {
        return InvalidArgument("bad operand type for unary " + e.name + ": '" + v.TypeName() + "'");
      }
      if (e.name == "+") return IsIntLike(v) ? Value::Int(IntOf(v)) : v;
      if (IsIntLike(v)) {
        if (IntOf(v) == INT64_MIN) return InvalidArgument("integer overflow");
        return Value::Int(-IntOf(v));
      }
      return Value::Float(-v.f);
    }
    case Expr::K::kBinary:
      return EvalBinary(e);
    case Expr::K::kCompare:
      return EvalCompare(e);
    case Expr::K::kAnd: {
      SHOAL_ASSIGN_OR_RETURN(Value l, Eval(*e.args[0]));
      if (!l.Truthy()) return l;
      return Eval(*e.args[1]);
    }
    case Expr::K::kOr: {
      SHOAL_ASSIGN_OR_RETURN(Value l, Eval(*e.args[0]));
      if (l.Truthy()) return l;
      return Eval(*e.args[1]);
    }
    case Expr::K::kNot: {
      SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      return Value::Bool(!v.Truthy());
    }
    case Expr::K::kCond: {
      SHOAL_ASSIGN_OR_RETURN(Value c, Eval(*e.args[1]));
      if (c.Truthy()) return Eval(*e.args[0]);
      if (e.args[2]) return Eval(*e.args[2]);
      return Value::Undefined(
          "the inline if expression evaluated to false and no else section was defined");
    }
  }
  return Internal("unknown expression");
}

StatusOr<Value> Interp::EvalBinary(const Expr& e) {
  SHOAL_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
  SHOAL_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
  return Arith(e.name, a, b);
}

StatusOr<Value> Interp::EvalCompare(const Expr& e) {
  SHOAL_ASSIGN_OR_RETURN(Value left, Eval(*e.args[0]));
  for (size_t k = 0; k < e.ops.size(); ++k) {
    SHOAL_ASSIGN_OR_RETURN(Value right, Eval(*e.args[k + 1]));
    const std::string& op = e.ops[k];
    bool r = false;
    if (op == "==") {
      r = Equal(left, right);
    } else if (op == "!=") {
      r = !Equal(left, right);
    } else if (op == "in" || op == "notin") {
      SHOAL_ASSIGN_OR_RETURN(bool c, Contains(right, left));
      r = (op == "in") == c;
    } else {
      if (left.is_undefined()) return UndefinedError(left);
      if (right.is_undefined()) return UndefinedError(right);
      if (op == "<") {
        SHOAL_ASSIGN_OR_RETURN(r, Less(left, right));
      } else if (op == ">") {
        SHOAL_ASSIGN_OR_RETURN(r, Less(right, left));
      } else if (op == "<=") {
        SHOAL_ASSIGN_OR_RETURN(bool gt, Less(right, left));
        r = !gt;
      } else {
        SHOAL_ASSIGN_OR_RETURN(bool lt, Less(left, right));
        r = !lt;
      }
    }
    if (!r) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

StatusOr<Value> Interp::EvalSlice(const Expr& e) {
  SHOAL_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
  int64_t idx[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int k = 0; k < 3; ++k) {
    if (!e.args[static_cast<size_t>(k) + 1]) continue;
    SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e.args[static_cast<size_t>(k) + 1]));
    if (v.is_none()) continue;
    if (!IsIntLike(v)) return InvalidArgument("slice indices must be integers or None");
    idx[k] = IntOf(v);
    given[k] = true;
  }
  const int64_t step = given[2] ? idx[2] : 1;
  if (step == 0) return InvalidArgument("slice step cannot be zero");
  std::vector<std::string_view> chars;
  int64_t n = 0;
  if (obj.is_string()) {
    chars = CodePoints(obj.s);
    n = static_cast<int64_t>(chars.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.list->items.size());
  } else if (obj.is_undefined()) {
    return UndefinedError(obj);
  } else {
    return InvalidArgument(std::string("'") + obj.TypeName() + "' object is not subscriptable");
  }
  auto norm = [&](int64_t v, bool is_given, int64_t def) {
    if (!is_given) return def;
    if (v < 0) v += n;
    if (step > 0) return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  const int64_t start = norm(idx[0], given[0], step > 0 ? 0 : n - 1);
  const int64_t stop = norm(idx[1], given[1], step > 0 ? n : -1);
  std::vector<size_t> picks;
  for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step)
    picks.push_back(static_cast<size_t>(k));
  if (obj.is_string()) {
    std::string s;
    for (size_t k : picks) s += chars[k];
    return Value::String(std::move(s));
  }
  std::vector<Value> items;
  for (size_t k : picks) items.push_back(obj.list->items[k]);
  return obj.is_tuple ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
}

StatusOr<Value> Interp::Call(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) return UndefinedError(fn);
  if (!fn.is_callable())
    return InvalidArgument(std::string("'") + fn.TypeName() + "' object is not callable");
  return fn.callable->fn(*this, args);
}

StatusOr<Value> Interp::GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) {
    if (!obj.is_namespace) {
      Value m = GetMethod(obj, name);
      if (!m.is_undefined()) return m;
    }
    if (const Value* v = obj.dict->Find(name)) return *v;
    return Value::Undefined(std::string("'") + obj.TypeName() + " object' has no attribute '" +
                            name + "'");
  }
  Value m = GetMethod(obj, name);
  if (!m.is_undefined()) return m;
  return Value::Undefined(std::string("'") + obj.TypeName() + " object' has no attribute '" + name +
                          "'");
}

StatusOr<Value> Interp::GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.dict->Find(key.s)) return *v;
      if (!obj.is_namespace) {
        Value m = GetMethod(obj, key.s);
        if (!m.is_undefined()) return m;
      }
    }
    return Value::Undefined(std::string("'") + obj.TypeName() + " object' has no attribute " +
                            key.Repr());
  }
  if ((obj.is_list() || obj.is_string()) && IsIntLike(key)) {
    int64_t k = IntOf(key);
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.list->items.size());
      if (k < 0) k += n;
      if (k < 0 || k >= n)
        return Value::Undefined(obj.TypeName() + " object has no element " +
                                std::to_string(IntOf(key)));
      return obj.list->items[static_cast<size_t>(k)];
    }
    std::vector<std::string_view> cps = CodePoints(obj.s);
    const int64_t n = static_cast<int64_t>(cps.size());
    if (k < 0) k += n;
    if (k < 0 || k >= n)
      return Value::Undefined("str object has no element " + std::to_string(IntOf(key)));
    return Value::String(std::string(cps[static_cast<size_t>(k)]));
  }
  if (key.is_string()) return GetAttr(obj, key.s);
  return Value::Undefined(std::string("'") + obj.TypeName() + " object' has no attribute " +
                          key.Repr());
}

StatusOr<Value> Interp::ApplyFilter(const std::string& name, const Value& input, CallArgs& args) {
  return CallFilter(*this, name, input, args);
}

StatusOr<bool> Interp::ApplyTest(const std::string& name, const Value& input, CallArgs& args) {
  return CallTest(*this, name, input, args);
}

}  // namespace shoal::model::jinja
