// libFuzzer target: any byte string through File::FromMemory must give a File or a Status, never
// a crash, a read out of bounds or undefined behaviour. A File that parses is walked completely
// (every metadata value through every getter, every tensor byte) and must survive a round trip
// through the Writer unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "format/gguf.h"

namespace {

using shoal::gguf::Array;
using shoal::gguf::File;
using shoal::gguf::Metadata;
using shoal::gguf::TensorInfo;
using shoal::gguf::Value;
using shoal::gguf::ValueType;
using shoal::gguf::Writer;

void Check(bool ok) {
  if (!ok) __builtin_trap();  // a broken invariant: report it as a crash
}

uint64_t Walk(const Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type);
  if (const Array* a = std::get_if<Array>(&v.v)) {
    for (const Value& item : a->items) {
      Check(item.type == a->elem_type);
      h = h * 31 + Walk(item);
    }
  } else if (const std::string* s = std::get_if<std::string>(&v.v)) {
    for (char c : *s) h = h * 31 + static_cast<uint8_t>(c);
  }
  return h;
}

bool Same(const Value& a, const Value& b) {
  if (a.type != b.type || a.v.index() != b.v.index()) return false;
  if (const Array* x = std::get_if<Array>(&a.v)) {
    const Array& y = std::get<Array>(b.v);
    if (x->elem_type != y.elem_type || x->items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x->items.size(); ++i) {
      if (!Same(x->items[i], y.items[i])) return false;
    }
    return true;
  }
  if (const double* x = std::get_if<double>(&a.v)) {
    const double y = std::get<double>(b.v);
    return std::memcmp(x, &y, sizeof(y)) == 0;
  }
  if (const std::string* x = std::get_if<std::string>(&a.v))
    return *x == std::get<std::string>(b.v);
  if (const uint64_t* x = std::get_if<uint64_t>(&a.v)) return *x == std::get<uint64_t>(b.v);
  if (const int64_t* x = std::get_if<int64_t>(&a.v)) return *x == std::get<int64_t>(b.v);
  return std::get<bool>(a.v) == std::get<bool>(b.v);
}

void TouchMetadata(const Metadata& md) {
  volatile uint64_t sink = 0;
  for (const auto& [key, value] : md.entries()) {
    sink = sink + Walk(value);
    Check(md.Find(key) == &value);  // keys are unique
    (void)md.GetUint(key);
    (void)md.GetInt(key);
    (void)md.GetFloat(key);
    (void)md.GetBool(key);
    (void)md.GetString(key);
    (void)md.GetStringArray(key);
    (void)md.GetFloatArray(key);
    (void)md.GetIntArray(key);
    sink = sink + md.GetUintOr(key, 1) + md.GetStringOr(key, "").size();
  }
}

void TouchTensors(const File& f, const uint8_t* data, size_t size) {
  volatile uint64_t sink = 0;
  uint64_t sum_bytes = 0;
  for (const TensorInfo& t : f.tensors()) {
    Check(f.FindTensor(t.name) == &t);
    Check(t.data >= data && t.bytes <= size &&
          t.data - data <= static_cast<ptrdiff_t>(size - t.bytes));
    Check(t.offset % f.alignment() == 0);
    Check(t.n_elements() > 0 && t.n_rows() > 0);
    Check(t.bytes == shoal::RowBytes(t.type, t.shape[0]) * static_cast<size_t>(t.n_rows()));
    uint64_t h = 0;
    for (size_t i = 0; i < t.bytes; ++i) h += t.data[i];
    sink = sink + h;
    sum_bytes += t.bytes;
  }
  Check(sum_bytes == f.tensor_data_bytes());
  Check(sum_bytes <= size);
}

// What parses must write back and parse to the same thing.
void RoundTrip(const File& f) {
  Writer w(f.alignment());
  for (const auto& [key, value] : f.metadata().entries()) w.metadata().Set(key, value);
  for (const TensorInfo& t : f.tensors()) {
    Check(w.AddTensorRef(t.name, t.type, t.shape, t.data, t.bytes).ok());
  }
  Check(w.Check().ok());
  const std::vector<uint8_t> image = w.Serialize();
  auto g = File::FromMemory(image.data(), image.size());
  Check(g.ok());
  const Metadata& a = f.metadata();
  const Metadata& b = (*g)->metadata();
  Check(a.entries().size() == b.entries().size());
  for (size_t i = 0; i < a.entries().size(); ++i) {
    Check(a.entries()[i].first == b.entries()[i].first);
    Check(Same(a.entries()[i].second, b.entries()[i].second));
  }
  Check(f.tensors().size() == (*g)->tensors().size());
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& x = f.tensors()[i];
    const TensorInfo& y = (*g)->tensors()[i];
    Check(x.name == y.name && x.shape == y.shape && x.type == y.type && x.bytes == y.bytes);
    Check(std::memcmp(x.data, y.data, x.bytes) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = File::FromMemory(data, size);
  if (!f.ok()) {
    Check(!f.status().message().empty());
    return 0;
  }
  TouchMetadata((*f)->metadata());
  TouchTensors(**f, data, size);
  RoundTrip(**f);
  return 0;
}
