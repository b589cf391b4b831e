// Metadata values: constructors, names and the typed getters of Metadata.
#include <cfloat>
#include <cmath>
#include <limits>

#include "format/gguf.h"

namespace shoal::gguf {
namespace {

std::string Quote(std::string_view key) {
  std::string s = "metadata key '";
  s += key;
  s += "'";
  return s;
}

bool IsUnsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 ||
         t == ValueType::kUint64;
}
bool IsSigned(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 ||
         t == ValueType::kInt64;
}
bool IsFloat(ValueType t) { return t == ValueType::kFloat32 || t == ValueType::kFloat64; }

Status WrongType(std::string_view key, ValueType have, std::string_view want) {
  std::string m =
      Quote(key) + " has type " + std::string(ValueTypeName(have)) + ", want " + std::string(want);
  return InvalidArgument(std::move(m));
}

// The value of an integer-typed Value as (negative?, magnitude-ish) pieces: returns false if `v`
// is not an integer or its payload does not match its type.
bool AsSignedWide(const Value& v, bool* negative, uint64_t* u, int64_t* i) {
  if (IsUnsigned(v.type)) {
    const uint64_t* p = std::get_if<uint64_t>(&v.v);
    if (!p) return false;
    *negative = false;
    *u = *p;
    return true;
  }
  if (IsSigned(v.type)) {
    const int64_t* p = std::get_if<int64_t>(&v.v);
    if (!p) return false;
    *negative = *p < 0;
    *i = *p;
    *u = *negative ? 0 : static_cast<uint64_t>(*p);
    return true;
  }
  return false;
}

StatusOr<uint64_t> ToUint(const Value& v, std::string_view what) {
  bool neg = false;
  uint64_t u = 0;
  int64_t i = 0;
  if (!AsSignedWide(v, &neg, &u, &i)) return WrongType(what, v.type, "an unsigned integer");
  if (neg) {
    return InvalidArgument(Quote(what) + " = " + std::to_string(i) +
                           " is out of range for an unsigned integer");
  }
  return u;
}

StatusOr<int64_t> ToInt(const Value& v, std::string_view what) {
  bool neg = false;
  uint64_t u = 0;
  int64_t i = 0;
  if (!AsSignedWide(v, &neg, &u, &i)) return WrongType(what, v.type, "an integer");
  if (IsSigned(v.type)) return i;
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument(Quote(what) + " = " + std::to_string(u) + " is out of range for int64");
  }
  return static_cast<int64_t>(u);
}

StatusOr<double> ToDouble(const Value& v, std::string_view what) {
  if (IsFloat(v.type)) {
    const double* p = std::get_if<double>(&v.v);
    if (p) return *p;
  }
  bool neg = false;
  uint64_t u = 0;
  int64_t i = 0;
  if (AsSignedWide(v, &neg, &u, &i)) {
    return IsSigned(v.type) ? static_cast<double>(i) : static_cast<double>(u);
  }
  return WrongType(what, v.type, "a number");
}

StatusOr<const Array*> GetArray(const Metadata& md, std::string_view key) {
  const Value* v = md.Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  const Array* a = std::get_if<Array>(&v->v);
  if (v->type != ValueType::kArray || !a) return WrongType(key, v->type, "an array");
  return a;
}

std::string ItemName(std::string_view key, size_t i) {
  std::string s(key);
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

}  // namespace

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
      return "u8";
    case ValueType::kInt8:
      return "i8";
    case ValueType::kUint16:
      return "u16";
    case ValueType::kInt16:
      return "i16";
    case ValueType::kUint32:
      return "u32";
    case ValueType::kInt32:
      return "i32";
    case ValueType::kFloat32:
      return "f32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "u64";
    case ValueType::kInt64:
      return "i64";
    case ValueType::kFloat64:
      return "f64";
  }
  return "unknown";
}

Value Value::StrArray(const std::vector<std::string>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (const std::string& x : xs) items.push_back(Str(x));
  return Arr(ValueType::kString, std::move(items));
}

Value Value::F32Array(const std::vector<float>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (float x : xs) items.push_back(F32(x));
  return Arr(ValueType::kFloat32, std::move(items));
}

Value Value::I32Array(const std::vector<int32_t>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (int32_t x : xs) items.push_back(I32(x));
  return Arr(ValueType::kInt32, std::move(items));
}

const Value* Metadata::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Metadata::Set(std::string key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

StatusOr<uint64_t> Metadata::GetUint(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  return ToUint(*v, key);
}

StatusOr<int64_t> Metadata::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  return ToInt(*v, key);
}

StatusOr<double> Metadata::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  return ToDouble(*v, key);
}

StatusOr<bool> Metadata::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  const bool* b = std::get_if<bool>(&v->v);
  if (v->type != ValueType::kBool || !b) return WrongType(key, v->type, "bool");
  return *b;
}

StatusOr<std::string> Metadata::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound(Quote(key) + " not found");
  const std::string* s = std::get_if<std::string>(&v->v);
  if (v->type != ValueType::kString || !s) return WrongType(key, v->type, "string");
  return *s;
}

StatusOr<std::vector<std::string>> Metadata::GetStringArray(std::string_view key) const {
  SHOAL_ASSIGN_OR_RETURN(const Array* a, GetArray(*this, key));
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    const Value& item = a->items[i];
    const std::string* s = std::get_if<std::string>(&item.v);
    if (item.type != ValueType::kString || !s) {
      return WrongType(ItemName(key, i), item.type, "string");
    }
    out.push_back(*s);
  }
  return out;
}

StatusOr<std::vector<float>> Metadata::GetFloatArray(std::string_view key) const {
  SHOAL_ASSIGN_OR_RETURN(const Array* a, GetArray(*this, key));
  std::vector<float> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    SHOAL_ASSIGN_OR_RETURN(double d, ToDouble(a->items[i], ItemName(key, i)));
    if (std::isfinite(d) && std::fabs(d) > static_cast<double>(FLT_MAX)) {
      return InvalidArgument(Quote(ItemName(key, i)) + " = " + std::to_string(d) +
                             " is out of range for f32");
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

StatusOr<std::vector<int64_t>> Metadata::GetIntArray(std::string_view key) const {
  SHOAL_ASSIGN_OR_RETURN(const Array* a, GetArray(*this, key));
  std::vector<int64_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    SHOAL_ASSIGN_OR_RETURN(int64_t x, ToInt(a->items[i], ItemName(key, i)));
    out.push_back(x);
  }
  return out;
}

// The *Or getters return the default on any failure: a missing key, a wrong type or a range error.
uint64_t Metadata::GetUintOr(std::string_view key, uint64_t dflt) const {
  StatusOr<uint64_t> r = GetUint(key);
  return r.ok() ? *r : dflt;
}

double Metadata::GetFloatOr(std::string_view key, double dflt) const {
  StatusOr<double> r = GetFloat(key);
  return r.ok() ? *r : dflt;
}

bool Metadata::GetBoolOr(std::string_view key, bool dflt) const {
  StatusOr<bool> r = GetBool(key);
  return r.ok() ? *r : dflt;
}

std::string Metadata::GetStringOr(std::string_view key, std::string dflt) const {
  StatusOr<std::string> r = GetString(key);
  return r.ok() ? std::move(*r) : std::move(dflt);
}

}  // namespace shoal::gguf
