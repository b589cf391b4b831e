// Writing GGUF v3: one file (through a temporary file and a rename), a split set, or an image in
// memory. One emitter serves all three through a byte sink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "format/gguf.h"

namespace shoal::gguf {
namespace {

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool ValidAlignment(uint64_t a) {
  return a != 0 && (a & (a - 1)) == 0 && a <= std::numeric_limits<uint32_t>::max();
}

template <typename T>
bool FitsU(uint64_t x) {
  return x <= std::numeric_limits<T>::max();
}
template <typename T>
bool FitsI(int64_t x) {
  return x >= std::numeric_limits<T>::min() && x <= std::numeric_limits<T>::max();
}

Status CheckValue(const Value& v, const std::string& what, int depth) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(what + " (" + std::string(ValueTypeName(v.type)) +
                           "): " + std::string(why));
  };
  const uint64_t* u = std::get_if<uint64_t>(&v.v);
  const int64_t* i = std::get_if<int64_t>(&v.v);
  switch (v.type) {
    case ValueType::kUint8:
      return u && FitsU<uint8_t>(*u) ? Status::Ok() : bad("bad payload");
    case ValueType::kUint16:
      return u && FitsU<uint16_t>(*u) ? Status::Ok() : bad("bad payload");
    case ValueType::kUint32:
      return u && FitsU<uint32_t>(*u) ? Status::Ok() : bad("bad payload");
    case ValueType::kUint64:
      return u ? Status::Ok() : bad("bad payload");
    case ValueType::kInt8:
      return i && FitsI<int8_t>(*i) ? Status::Ok() : bad("bad payload");
    case ValueType::kInt16:
      return i && FitsI<int16_t>(*i) ? Status::Ok() : bad("bad payload");
    case ValueType::kInt32:
      return i && FitsI<int32_t>(*i) ? Status::Ok() : bad("bad payload");
    case ValueType::kInt64:
      return i ? Status::Ok() : bad("bad payload");
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      return std::holds_alternative<double>(v.v) ? Status::Ok() : bad("bad payload");
    case ValueType::kBool:
      return std::holds_alternative<bool>(v.v) ? Status::Ok() : bad("bad payload");
    case ValueType::kString:
      return std::holds_alternative<std::string>(v.v) ? Status::Ok() : bad("bad payload");
    case ValueType::kArray: {
      const Array* a = std::get_if<Array>(&v.v);
      if (!a) return bad("bad payload");
      if (depth + 1 > kMaxArrayDepth) return bad("arrays nested too deep");
      if (static_cast<uint32_t>(a->elem_type) > static_cast<uint32_t>(ValueType::kFloat64)) {
        return bad("unknown element type");
      }
      for (size_t k = 0; k < a->items.size(); ++k) {
        const std::string item = what + "[" + std::to_string(k) + "]";
        if (a->items[k].type != a->elem_type) {
          return InvalidArgument(
              item + " has type " + std::string(ValueTypeName(a->items[k].type)) +
              ", but the array holds " + std::string(ValueTypeName(a->elem_type)));
        }
        SHOAL_RETURN_IF_ERROR(CheckValue(a->items[k], item, depth + 1));
      }
      return Status::Ok();
    }
  }
  return bad("unknown value type");
}

// Collects bytes into memory or streams them to a file descriptor through a buffer.
class Sink {
 public:
  explicit Sink(std::vector<uint8_t>* mem) : mem_(mem) {}
  Sink(int fd, const std::string* path) : fd_(fd), path_(path) { buf_.reserve(kBufBytes); }

  void Put(const void* p, size_t n) {
    if (!status_.ok()) return;
    const uint8_t* b = static_cast<const uint8_t*>(p);
    written_ += n;
    if (mem_) {
      mem_->insert(mem_->end(), b, b + n);
      return;
    }
    if (buf_.size() + n > kBufBytes) Flush();
    if (n >= kBufBytes) {
      WriteAll(b, n);
    } else {
      buf_.insert(buf_.end(), b, b + n);
    }
  }
  template <typename T>
  void Pod(T x) {
    Put(&x, sizeof(x));
  }
  void Str(std::string_view s) {
    Pod<uint64_t>(s.size());
    Put(s.data(), s.size());
  }
  void Zeros(size_t n) {
    static const uint8_t kZero[64] = {};
    while (n > 0) {
      const size_t k = n < sizeof(kZero) ? n : sizeof(kZero);
      Put(kZero, k);
      n -= k;
    }
  }
  void Flush() {
    if (!buf_.empty()) WriteAll(buf_.data(), buf_.size());
    buf_.clear();
  }
  uint64_t written() const { return written_; }
  const Status& status() const { return status_; }

 private:
  static constexpr size_t kBufBytes = size_t{1} << 20;
  void WriteAll(const uint8_t* p, size_t n) {
    while (n > 0 && status_.ok()) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        status_ = IoError(*path_ + ": write: " + std::strerror(errno));
        return;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  std::vector<uint8_t>* mem_ = nullptr;
  int fd_ = -1;
  const std::string* path_ = nullptr;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
  Status status_;
};

void EmitValue(Sink& s, const Value& v) {
  const uint64_t* u = std::get_if<uint64_t>(&v.v);
  const int64_t* i = std::get_if<int64_t>(&v.v);
  const double* d = std::get_if<double>(&v.v);
  switch (v.type) {
    case ValueType::kUint8:
      s.Pod(static_cast<uint8_t>(u ? *u : 0));
      return;
    case ValueType::kUint16:
      s.Pod(static_cast<uint16_t>(u ? *u : 0));
      return;
    case ValueType::kUint32:
      s.Pod(static_cast<uint32_t>(u ? *u : 0));
      return;
    case ValueType::kUint64:
      s.Pod(static_cast<uint64_t>(u ? *u : 0));
      return;
    case ValueType::kInt8:
      s.Pod(static_cast<int8_t>(i ? *i : 0));
      return;
    case ValueType::kInt16:
      s.Pod(static_cast<int16_t>(i ? *i : 0));
      return;
    case ValueType::kInt32:
      s.Pod(static_cast<int32_t>(i ? *i : 0));
      return;
    case ValueType::kInt64:
      s.Pod(static_cast<int64_t>(i ? *i : 0));
      return;
    case ValueType::kFloat32:
      s.Pod(static_cast<float>(d ? *d : 0));
      return;
    case ValueType::kFloat64:
      s.Pod(d ? *d : 0.0);
      return;
    case ValueType::kBool: {
      const bool* b = std::get_if<bool>(&v.v);
      s.Pod(static_cast<uint8_t>(b && *b ? 1 : 0));
      return;
    }
    case ValueType::kString: {
      const std::string* str = std::get_if<std::string>(&v.v);
      s.Str(str ? *str : std::string());
      return;
    }
    case ValueType::kArray: {
      static const Array kEmpty;
      const Array* a = std::get_if<Array>(&v.v);
      if (!a) a = &kEmpty;
      s.Pod(static_cast<uint32_t>(a->elem_type));
      s.Pod(static_cast<uint64_t>(a->items.size()));
      for (const Value& item : a->items) EmitValue(s, item);
      return;
    }
  }
}

struct PartTensor {
  const std::string* name;
  DType type;
  const std::vector<int64_t>* shape;
  const uint8_t* data;
  size_t bytes;
};

// Writes one whole image: header, metadata, tensor infos, padding, aligned data.
void Emit(Sink& s, const Metadata& md, const std::vector<PartTensor>& tensors, uint64_t alignment) {
  s.Pod(kMagic);
  s.Pod(uint32_t{3});
  s.Pod(static_cast<uint64_t>(tensors.size()));
  s.Pod(static_cast<uint64_t>(md.entries().size()));
  for (const auto& [key, value] : md.entries()) {
    s.Str(key);
    s.Pod(static_cast<uint32_t>(value.type));
    EmitValue(s, value);
  }
  uint64_t offset = 0;
  for (const PartTensor& t : tensors) {
    s.Str(*t.name);
    s.Pod(static_cast<uint32_t>(t.shape->size()));
    for (int64_t ne : *t.shape) s.Pod(ne);
    s.Pod(static_cast<uint32_t>(t.type));
    s.Pod(offset);
    offset = AlignUp(offset + t.bytes, alignment);
  }
  // Without tensors there is no data section to align (a 2 GiB alignment would cost 2 GiB).
  if (tensors.empty()) return;
  s.Zeros(AlignUp(s.written(), alignment) - s.written());
  for (const PartTensor& t : tensors) {
    s.Put(t.data, t.bytes);
    s.Zeros(AlignUp(t.bytes, alignment) - t.bytes);
  }
}

// Writes the image to a temporary file beside `path`; on success returns its name.
StatusOr<std::string> EmitToTemp(const std::string& path, const Metadata& md,
                                 const std::vector<PartTensor>& tensors, uint64_t alignment) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return IoError(path + ": cannot create a temporary file: " + std::strerror(errno));
  ::fchmod(fd, 0644);
  Sink s(fd, &tmp);
  Emit(s, md, tensors, alignment);
  s.Flush();
  Status st = s.status();
  if (st.ok() && ::fsync(fd) != 0) st = IoError(tmp + ": fsync: " + std::strerror(errno));
  if (::close(fd) != 0 && st.ok()) st = IoError(tmp + ": close: " + std::strerror(errno));
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return tmp;
}

Metadata WithAlignment(const Metadata& md, uint64_t alignment) {
  Metadata out = md;
  if (alignment != kDefaultAlignment || out.Has("general.alignment")) {
    out.Set("general.alignment", Value::U32(static_cast<uint32_t>(alignment)));
  }
  return out;
}

}  // namespace

Status Writer::AddPending(std::string name, DType type, std::vector<int64_t> shape,
                          const void* data, size_t bytes, bool copy) {
  const std::string what = "tensor '" + name + "'";
  if (name.empty()) return InvalidArgument("tensor name is empty");
  if (!LookupDType(static_cast<uint32_t>(type))) {
    return InvalidArgument(what + ": unknown type id " + std::to_string(static_cast<int>(type)));
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    return InvalidArgument(what + ": " + std::to_string(shape.size()) + " dims, want 1.." +
                           std::to_string(kMaxDims));
  }
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) {
      return InvalidArgument(what + ": ne[" + std::to_string(d) +
                             "] = " + std::to_string(shape[d]) + " is not positive");
    }
    if (n > INT64_MAX / shape[d]) return InvalidArgument(what + ": element count overflows");
    n *= shape[d];
  }
  const std::optional<size_t> row = RowBytesChecked(type, shape[0]);
  if (!row) {
    return InvalidArgument(what + ": row length " + std::to_string(shape[0]) +
                           " is not a multiple of the " + std::string(DTypeName(type)) +
                           " block of " + std::to_string(Info(type).block_values));
  }
  const uint64_t rows = static_cast<uint64_t>(n / shape[0]);
  if (*row != 0 && rows > SIZE_MAX / *row) return InvalidArgument(what + ": byte size overflows");
  const size_t want = *row * static_cast<size_t>(rows);
  if (bytes != want) {
    return InvalidArgument(what + ": " + std::to_string(bytes) + " bytes of data, want " +
                           std::to_string(want) + " (" + std::to_string(rows) + " rows of " +
                           std::to_string(*row) + " bytes)");
  }
  if (bytes > 0 && data == nullptr) return InvalidArgument(what + ": data is null");
  for (const Pending& p : tensors_) {
    if (p.name == name) return InvalidArgument(what + ": duplicate tensor name");
  }
  if (!ValidAlignment(alignment_)) {
    return InvalidArgument("alignment " + std::to_string(alignment_) +
                           " is not a power of two that fits in u32");
  }
  Pending p{std::move(name), type, std::move(shape), {}, nullptr, bytes};
  const uint8_t* b = static_cast<const uint8_t*>(data);
  if (copy) {
    p.data.assign(b, b + bytes);
  } else {
    p.ref = b;
  }
  tensors_.push_back(std::move(p));
  return Status::Ok();
}

Status Writer::AddTensor(std::string name, DType type, std::vector<int64_t> shape, const void* data,
                         size_t bytes) {
  return AddPending(std::move(name), type, std::move(shape), data, bytes, true);
}

Status Writer::AddTensorRef(std::string name, DType type, std::vector<int64_t> shape,
                            const void* data, size_t bytes) {
  return AddPending(std::move(name), type, std::move(shape), data, bytes, false);
}

Status Writer::Check() const {
  if (!ValidAlignment(alignment_)) {
    return InvalidArgument("alignment " + std::to_string(alignment_) +
                           " is not a power of two that fits in u32");
  }
  std::unordered_set<std::string_view> keys;
  for (const auto& [key, value] : metadata_.entries()) {
    if (!keys.insert(key).second) return InvalidArgument("duplicate metadata key '" + key + "'");
    SHOAL_RETURN_IF_ERROR(CheckValue(value, "metadata key '" + key + "'", 0));
  }
  return Status::Ok();
}

std::vector<uint8_t> Writer::Serialize() const {
  std::vector<uint8_t> out;
  if (!Check().ok()) return out;
  std::vector<PartTensor> parts;
  for (const Pending& p : tensors_) parts.push_back({&p.name, p.type, &p.shape, p.ptr(), p.bytes});
  Sink s(&out);
  Emit(s, WithAlignment(metadata_, alignment_), parts, alignment_);
  return out;
}

Status Writer::Write(const std::string& path) const {
  SHOAL_RETURN_IF_ERROR(Check());
  std::vector<PartTensor> parts;
  for (const Pending& p : tensors_) parts.push_back({&p.name, p.type, &p.shape, p.ptr(), p.bytes});
  SHOAL_ASSIGN_OR_RETURN(std::string tmp,
                         EmitToTemp(path, WithAlignment(metadata_, alignment_), parts, alignment_));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return IoError(path + ": rename: " + std::strerror(e));
  }
  return Status::Ok();
}

Status Writer::WriteSplit(const std::string& prefix, size_t max_tensors_per_file) const {
  if (max_tensors_per_file == 0) return InvalidArgument("max_tensors_per_file is 0");
  std::vector<size_t> begins = {0};
  for (size_t k = max_tensors_per_file; k < tensors_.size(); k += max_tensors_per_file) {
    begins.push_back(k);
  }
  return WriteParts(prefix, begins);
}

Status Writer::WriteSplitMaxBytes(const std::string& prefix, uint64_t max_bytes_per_file,
                                  int* n_parts) const {
  if (max_bytes_per_file == 0) return InvalidArgument("max_bytes_per_file is 0");
  std::vector<size_t> begins = {0};
  uint64_t in_part = 0;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const uint64_t b = (tensors_[k].bytes + alignment_ - 1) / alignment_ * alignment_;
    if (in_part > 0 && in_part + b > max_bytes_per_file) {
      begins.push_back(k);
      in_part = 0;
    }
    in_part += b;
  }
  if (n_parts) *n_parts = int(begins.size());
  return WriteParts(prefix, begins);
}

Status Writer::WriteParts(const std::string& prefix, const std::vector<size_t>& begins) const {
  SHOAL_RETURN_IF_ERROR(Check());
  if (begins.size() > static_cast<size_t>(kMaxSplits)) {
    return InvalidArgument(std::to_string(begins.size()) + " parts exceed the limit of " +
                           std::to_string(kMaxSplits));
  }
  if (tensors_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return InvalidArgument("too many tensors for split.tensors.count (i32)");
  }
  const int n_parts = static_cast<int>(begins.size());
  // Write every part to a temporary file first; rename only when all succeeded.
  std::vector<std::string> tmps, finals;
  Status st;
  for (int i = 0; i < n_parts && st.ok(); ++i) {
    Metadata md = i == 0 ? metadata_ : Metadata();
    md.Set("split.no", Value::U16(static_cast<uint16_t>(i)));
    md.Set("split.count", Value::U16(static_cast<uint16_t>(n_parts)));
    md.Set("split.tensors.count", Value::I32(static_cast<int32_t>(tensors_.size())));
    std::vector<PartTensor> parts;
    const size_t begin = begins[size_t(i)];
    const size_t end = size_t(i) + 1 < begins.size() ? begins[size_t(i) + 1] : tensors_.size();
    for (size_t k = begin; k < end; ++k) {
      const Pending& p = tensors_[k];
      parts.push_back({&p.name, p.type, &p.shape, p.ptr(), p.bytes});
    }
    finals.push_back(SplitPath(prefix, i, n_parts));
    StatusOr<std::string> tmp =
        EmitToTemp(finals.back(), WithAlignment(md, alignment_), parts, alignment_);
    if (tmp.ok()) {
      tmps.push_back(*tmp);
    } else {
      st = tmp.status();
    }
  }
  for (size_t i = 0; i < tmps.size() && st.ok(); ++i) {
    if (::rename(tmps[i].c_str(), finals[i].c_str()) != 0) {
      st = IoError(finals[i] + ": rename: " + std::strerror(errno));
    }
  }
  if (!st.ok()) {
    for (const std::string& t : tmps) ::unlink(t.c_str());  // renamed ones are already gone
  }
  return st;
}

}  // namespace shoal::gguf
