// Values of shoal's Jinja renderer, with Python's semantics where templates depend on them:
// lists and dicts are shared by reference (a namespace's list that a macro appends to changes
// everywhere), dicts keep insertion order, strings are UTF-8 and index by code point, numbers are
// Python's int (64-bit here) and float, and Undefined behaves as Jinja2's default Undefined.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace shoal::model::jinja {

class Interp;
struct Value;

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> kwargs;
  const Value* Kwarg(std::string_view name) const;
};

// A builtin function, a bound method or a macro.
struct Callable {
  std::string name;
  std::function<StatusOr<Value>(Interp&, CallArgs&)> fn;
};

struct ValueList;
struct ValueDict;

struct Value {
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kCallable
  };
  Kind kind = Kind::kUndefined;
  bool b = false;
  bool is_tuple = false;      // a list written as a tuple: printed with ( )
  bool is_namespace = false;  // a dict made by namespace(): attributes can be set
  bool is_safe = false;       // unused by chat templates; kept for the `safe` filter
  int64_t i = 0;
  double f = 0;
  std::string s;  // kString; the name for kUndefined (for error messages)
  std::shared_ptr<ValueList> list;
  std::shared_ptr<ValueDict> dict;
  std::shared_ptr<Callable> callable;

  static Value Undefined(std::string name = {});
  static Value None();
  static Value Bool(bool v);
  static Value Int(int64_t v);
  static Value Float(double v);
  static Value String(std::string v);
  static Value List(std::vector<Value> items = {});
  static Value Tuple(std::vector<Value> items);
  static Value Dict();
  static Value Function(std::string name, std::function<StatusOr<Value>(Interp&, CallArgs&)> fn);
  static Value FromJson(const nlohmann::ordered_json& j);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }
  bool is_callable() const { return kind == Kind::kCallable; }
  double AsDouble() const { return kind == Kind::kFloat ? f : static_cast<double>(i); }

  bool Truthy() const;
  // Python's str(): what {{ value }} prints.
  std::string Str() const;
  // Python's repr(): strings quoted, used inside containers.
  std::string Repr() const;
  std::string TypeName() const;  // Python's type name ("str", "int", "list", "NoneType"...)
};

struct ValueList {
  std::vector<Value> items;
};

struct ValueDict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order
  std::unordered_map<std::string, size_t> index;
  const Value* Find(std::string_view key) const;
  void Set(const std::string& key, Value v);
  bool Erase(std::string_view key);
};

// Python == (1 == 1.0, lists and dicts element-wise; different types are unequal).
bool Equal(const Value& a, const Value& b);
// Python <: numbers, strings (by code point), lists; otherwise an error.
StatusOr<bool> Less(const Value& a, const Value& b);

struct JsonOptions {
  int indent = -1;  // < 0: one line with ", " and ": "
  bool sort_keys = false;
  bool ensure_ascii = false;
  std::string item_sep, key_sep;  // empty: Python's defaults for the indent
};
// Python's json.dumps. Undefined and callables are an error.
StatusOr<std::string> ToJson(const Value& v, const JsonOptions& opt);

// Python's repr of a float ("1.0", "0.1", "1e-05", "inf").
std::string FloatRepr(double d);

// UTF-8 helpers: code points of a string and back (invalid bytes pass through as U+FFFD-free
// single units, so nothing is lost).
std::vector<std::string_view> CodePoints(std::string_view s);

}  // namespace shoal::model::jinja
