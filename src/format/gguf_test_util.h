// Test helpers: a byte builder for hand-made GGUF images (the independent reference for the
// writer's layout and the source of corrupt files), value comparison, temporary directories.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.h"

namespace shoal::gguf::testing {

class Raw {
 public:
  template <typename T>
  Raw& Pod(T x) {
    const size_t n = b.size();
    b.resize(n + sizeof(T));
    std::memcpy(b.data() + n, &x, sizeof(T));
    return *this;
  }
  Raw& Str(std::string_view s) {
    Pod<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& Header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return Pod(kMagic).Pod(version).Pod(n_tensors).Pod(n_kv);
  }
  // A key and its value type; the caller appends the value.
  Raw& Key(std::string_view key, ValueType t) { return Str(key).Pod(static_cast<uint32_t>(t)); }
  Raw& TensorInfo(std::string_view name, std::vector<int64_t> ne, uint32_t type, uint64_t off) {
    Str(name).Pod(static_cast<uint32_t>(ne.size()));
    for (int64_t x : ne) Pod(x);
    return Pod(type).Pod(off);
  }
  Raw& PadTo(size_t alignment) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  Raw& Bytes(size_t n, uint8_t v) {
    b.resize(b.size() + n, v);
    return *this;
  }
  size_t size() const { return b.size(); }

  std::vector<uint8_t> b;
};

inline bool SameValue(const Value& a, const Value& b) {
  if (a.type != b.type || a.v.index() != b.v.index()) return false;
  if (const Array* x = std::get_if<Array>(&a.v)) {
    const Array& y = std::get<Array>(b.v);
    if (x->elem_type != y.elem_type || x->items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x->items.size(); ++i) {
      if (!SameValue(x->items[i], y.items[i])) return false;
    }
    return true;
  }
  if (const double* x = std::get_if<double>(&a.v)) {  // bitwise, so NaN payloads count
    const double y = std::get<double>(b.v);
    return std::memcmp(x, &y, sizeof(y)) == 0;
  }
  if (const std::string* x = std::get_if<std::string>(&a.v))
    return *x == std::get<std::string>(b.v);
  if (const uint64_t* x = std::get_if<uint64_t>(&a.v)) return *x == std::get<uint64_t>(b.v);
  if (const int64_t* x = std::get_if<int64_t>(&a.v)) return *x == std::get<int64_t>(b.v);
  return std::get<bool>(a.v) == std::get<bool>(b.v);
}

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "shoal-gguf-XXXXXX").string();
    path_ = ::mkdtemp(t.data()) ? t : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace shoal::gguf::testing
