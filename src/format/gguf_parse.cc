// Parsing one GGUF image (one file of a split set). Every count, length and offset is checked
// against the bytes that remain before it is used; errors name the field and its byte offset.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "format/gguf.h"

namespace shoal::gguf {
namespace {

constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8;
constexpr size_t kMinKvBytes = 8 + 4 + 1;                  // empty key, type, a one-byte value
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, one dim, type, offset
constexpr size_t kMaxReserve = size_t{1} << 16;            // never trust a count for a reservation

std::string At(size_t pos) { return " at byte " + std::to_string(pos); }

// Reads little-endian fields from [base, base + size), never past the end.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size) : base_(base), size_(size) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  Status Need(size_t n, std::string_view what) const {
    if (n > remaining()) {
      return Corrupt(std::string(what) + At(pos_) + ": need " + std::to_string(n) +
                     " bytes, file has " + std::to_string(remaining()) + " left (size " +
                     std::to_string(size_) + ")");
    }
    return Status::Ok();
  }
  template <typename T>
  Status Read(T* out, std::string_view what) {
    SHOAL_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v{};
    std::memcpy(&v, base_ + pos_, sizeof(T));  // hosts are little-endian (checked in gguf.cc)
    pos_ += sizeof(T);
    *out = v;
    return Status::Ok();
  }
  Status ReadString(std::string* out, std::string_view what) {
    const size_t at = pos_;
    uint64_t len = 0;
    SHOAL_RETURN_IF_ERROR(Read(&len, std::string(what) + " length"));
    if (len > remaining()) {
      return Corrupt(std::string(what) + At(at) + ": string length " + std::to_string(len) +
                     " exceeds the " + std::to_string(remaining()) + " bytes left (size " +
                     std::to_string(size_) + ")");
    }
    out->assign(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
};

bool KnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

// Fewest bytes one value of type t can take in a file.
size_t MinValueBytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:
      return 8;
    case ValueType::kArray:
      return 4 + 8;
  }
  return 1;
}

std::string Item(const std::string& what, uint64_t i) {
  std::string s = what;
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

class ValueParser {
 public:
  explicit ValueParser(Cursor* c) : c_(c) {}

  Status Parse(ValueType type, int depth, Value* out, const std::string& what) {
    out->type = type;
    switch (type) {
      case ValueType::kUint8:
        return Unsigned<uint8_t>(out, what);
      case ValueType::kUint16:
        return Unsigned<uint16_t>(out, what);
      case ValueType::kUint32:
        return Unsigned<uint32_t>(out, what);
      case ValueType::kUint64:
        return Unsigned<uint64_t>(out, what);
      case ValueType::kInt8:
        return Signed<int8_t>(out, what);
      case ValueType::kInt16:
        return Signed<int16_t>(out, what);
      case ValueType::kInt32:
        return Signed<int32_t>(out, what);
      case ValueType::kInt64:
        return Signed<int64_t>(out, what);
      case ValueType::kFloat32: {
        float f = 0;
        SHOAL_RETURN_IF_ERROR(c_->Read(&f, what));
        out->v = double{f};
        return Status::Ok();
      }
      case ValueType::kFloat64: {
        double d = 0;
        SHOAL_RETURN_IF_ERROR(c_->Read(&d, what));
        out->v = d;
        return Status::Ok();
      }
      case ValueType::kBool: {
        const size_t at = c_->pos();
        uint8_t b = 0;
        SHOAL_RETURN_IF_ERROR(c_->Read(&b, what));
        if (b > 1) {
          return Corrupt(what + At(at) + ": bool byte is " + std::to_string(b) + ", not 0 or 1");
        }
        out->v = b == 1;
        return Status::Ok();
      }
      case ValueType::kString: {
        std::string s;
        SHOAL_RETURN_IF_ERROR(c_->ReadString(&s, what));
        out->v = std::move(s);
        return Status::Ok();
      }
      case ValueType::kArray:
        return ParseArray(depth + 1, out, what);
    }
    return Internal("unreachable value type");
  }

 private:
  template <typename T>
  Status Unsigned(Value* out, const std::string& what) {
    T x{};
    SHOAL_RETURN_IF_ERROR(c_->Read(&x, what));
    out->v = uint64_t{x};
    return Status::Ok();
  }
  template <typename T>
  Status Signed(Value* out, const std::string& what) {
    T x{};
    SHOAL_RETURN_IF_ERROR(c_->Read(&x, what));
    out->v = int64_t{x};
    return Status::Ok();
  }

  Status ParseArray(int depth, Value* out, const std::string& what) {
    const size_t at = c_->pos();
    if (depth > kMaxArrayDepth) {
      return Corrupt(what + At(at) + ": arrays nested deeper than " +
                     std::to_string(kMaxArrayDepth));
    }
    uint32_t elem = 0;
    SHOAL_RETURN_IF_ERROR(c_->Read(&elem, what + " element type"));
    if (!KnownValueType(elem)) {
      return Corrupt(what + At(at) + ": unknown array element type " + std::to_string(elem));
    }
    const ValueType et = static_cast<ValueType>(elem);
    const size_t count_at = c_->pos();
    uint64_t count = 0;
    SHOAL_RETURN_IF_ERROR(c_->Read(&count, what + " count"));
    const size_t min_bytes = MinValueBytes(et);
    if (count > c_->remaining() / min_bytes) {
      return Corrupt(what + At(count_at) + ": array of " + std::to_string(count) + " " +
                     std::string(ValueTypeName(et)) + " values cannot fit in the " +
                     std::to_string(c_->remaining()) + " bytes left");
    }
    if (count > kMaxMetadataValues - n_values_) {
      return ResourceExhausted(what + At(count_at) + ": more than " +
                               std::to_string(kMaxMetadataValues) +
                               " metadata array values in one file");
    }
    n_values_ += count;
    Array a;
    a.elem_type = et;
    a.items.reserve(std::min<uint64_t>(count, kMaxReserve));
    for (uint64_t i = 0; i < count; ++i) {
      a.items.emplace_back();
      SHOAL_RETURN_IF_ERROR(
          Parse(et, depth, &a.items.back(), et == ValueType::kArray ? Item(what, i) : what));
    }
    out->v = std::move(a);
    return Status::Ok();
  }

  Cursor* c_;
  uint64_t n_values_ = 0;
};

std::string TensorWhat(uint64_t i, const std::string& name) {
  return "tensor " + std::to_string(i) + " '" + name + "'";
}

// Reads one tensor info record and checks what can be checked without the data section.
Status ParseTensorInfo(Cursor* c, uint64_t i, TensorInfo* t) {
  const size_t at = c->pos();
  SHOAL_RETURN_IF_ERROR(c->ReadString(&t->name, "tensor " + std::to_string(i) + " name"));
  const std::string what = TensorWhat(i, t->name);
  if (t->name.empty()) return Corrupt("tensor " + std::to_string(i) + At(at) + ": empty name");
  const size_t dims_at = c->pos();
  uint32_t n_dims = 0;
  SHOAL_RETURN_IF_ERROR(c->Read(&n_dims, what + " n_dims"));
  if (n_dims == 0 || n_dims > static_cast<uint32_t>(kMaxDims)) {
    return Corrupt(what + At(dims_at) + ": n_dims " + std::to_string(n_dims) + " not in 1.." +
                   std::to_string(kMaxDims));
  }
  t->shape.resize(n_dims);
  int64_t n = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const size_t ne_at = c->pos();
    int64_t ne = 0;
    SHOAL_RETURN_IF_ERROR(c->Read(&ne, what + " ne[" + std::to_string(d) + "]"));
    if (ne <= 0) {
      return Corrupt(what + At(ne_at) + ": ne[" + std::to_string(d) + "] = " + std::to_string(ne) +
                     " is not positive");
    }
    if (n > INT64_MAX / ne) {
      return Corrupt(what + At(ne_at) + ": element count overflows at ne[" + std::to_string(d) +
                     "] = " + std::to_string(ne));
    }
    n *= ne;
    t->shape[d] = ne;
  }
  const size_t type_at = c->pos();
  uint32_t type_id = 0;
  SHOAL_RETURN_IF_ERROR(c->Read(&type_id, what + " type"));
  const std::optional<DTypeInfo> info = LookupDType(type_id);
  if (!info) {
    return Corrupt(what + At(type_at) + ": unknown tensor type id " + std::to_string(type_id));
  }
  t->type = info->type;
  const std::optional<size_t> row = RowBytesChecked(t->type, t->shape[0]);
  if (!row && t->shape[0] % info->block_values == 0) {
    return Corrupt(what + At(dims_at) + ": byte size of a row of " + std::to_string(t->shape[0]) +
                   " values overflows");
  }
  if (!row) {
    return Corrupt(what + At(dims_at) + ": row length ne[0] = " + std::to_string(t->shape[0]) +
                   " is not a multiple of the " + std::string(info->name) + " block of " +
                   std::to_string(info->block_values) + " values");
  }
  const uint64_t rows = static_cast<uint64_t>(n / t->shape[0]);
  if (*row != 0 && rows > SIZE_MAX / *row) {
    return Corrupt(what + At(dims_at) + ": byte size overflows");
  }
  t->bytes = *row * static_cast<size_t>(rows);
  SHOAL_RETURN_IF_ERROR(c->Read(&t->offset, what + " offset"));
  return Status::Ok();
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t ne : shape) n *= ne;
  return n;
}

Status File::ParseOne(const uint8_t* base, size_t size, int split, bool first) {
  Cursor c(base, size);
  if (size < kHeaderBytes) {
    return Corrupt("file is " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kHeaderBytes) + "-byte GGUF header");
  }
  uint32_t magic = 0, version = 0;
  uint64_t n_tensors = 0, n_kv = 0;
  SHOAL_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kMagic) {
    char m[5] = {};
    std::memcpy(m, base, 4);
    for (int i = 0; i < 4; ++i) {
      if (m[i] < 32 || m[i] > 126) m[i] = '?';
    }
    return Corrupt("bad magic '" + std::string(m) + "' at byte 0: not a GGUF file");
  }
  SHOAL_RETURN_IF_ERROR(c.Read(&version, "version"));
  if (version == 1) {
    return Unimplemented("GGUF version 1 (32-bit counts) is not supported; convert to v3");
  }
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && version != 0) {
      return Unimplemented("GGUF version field " + std::to_string(version) +
                           " at byte 4 looks big-endian; only little-endian files are supported");
    }
    return Unimplemented("GGUF version " + std::to_string(version) + " at byte 4 is not supported");
  }
  SHOAL_RETURN_IF_ERROR(c.Read(&n_tensors, "tensor_count"));
  SHOAL_RETURN_IF_ERROR(c.Read(&n_kv, "kv_count"));
  if (n_kv > c.remaining() / kMinKvBytes) {
    return Corrupt("kv_count " + std::to_string(n_kv) + " at byte 16 cannot fit in the " +
                   std::to_string(c.remaining()) + " bytes left");
  }
  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return Corrupt("tensor_count " + std::to_string(n_tensors) + " at byte 8 cannot fit in the " +
                   std::to_string(c.remaining()) + " bytes left");
  }

  Metadata md;
  std::unordered_set<std::string> keys;
  ValueParser values(&c);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const size_t at = c.pos();
    std::string key;
    SHOAL_RETURN_IF_ERROR(c.ReadString(&key, "kv " + std::to_string(i) + " key"));
    const std::string what = "kv " + std::to_string(i) + " '" + key + "'";
    if (!keys.insert(key).second) return Corrupt(what + At(at) + ": duplicate key");
    const size_t type_at = c.pos();
    uint32_t type = 0;
    SHOAL_RETURN_IF_ERROR(c.Read(&type, what + " type"));
    if (!KnownValueType(type)) {
      return Corrupt(what + At(type_at) + ": unknown value type " + std::to_string(type));
    }
    Value v;
    SHOAL_RETURN_IF_ERROR(values.Parse(static_cast<ValueType>(type), 0, &v, what));
    md.Append(std::move(key), std::move(v));  // unique: checked above
  }

  uint64_t alignment = kDefaultAlignment;
  if (const Value* a = md.Find("general.alignment")) {
    const uint64_t* u = std::get_if<uint64_t>(&a->v);
    if (a->type != ValueType::kUint32 || !u) {
      return Corrupt("general.alignment has type " + std::string(ValueTypeName(a->type)) +
                     ", want u32");
    }
    if (*u == 0 || (*u & (*u - 1)) != 0) {
      return Corrupt("general.alignment " + std::to_string(*u) + " is not a power of two");
    }
    alignment = *u;
  }

  std::vector<TensorInfo> infos;
  infos.reserve(std::min<uint64_t>(n_tensors, kMaxReserve));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    infos.emplace_back();
    SHOAL_RETURN_IF_ERROR(ParseTensorInfo(&c, i, &infos.back()));
    infos.back().split = split;
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t header_end = c.pos();
  const uint64_t data_start = (header_end + alignment - 1) / alignment * alignment;
  if (n_tensors > 0 && data_start > size) {
    return Corrupt("data section would start at byte " + std::to_string(data_start) +
                   ", past end of file (size " + std::to_string(size) + ")");
  }
  const uint64_t data_bytes = data_start <= size ? size - data_start : 0;
  for (uint64_t i = 0; i < infos.size(); ++i) {
    TensorInfo& t = infos[i];
    const std::string what = TensorWhat(i, t.name);
    if (t.offset % alignment != 0) {
      return Corrupt(what + ": data offset " + std::to_string(t.offset) +
                     " is not a multiple of the alignment " + std::to_string(alignment));
    }
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) {
      return Corrupt(what + ": data [offset " + std::to_string(data_start + t.offset) + ", +" +
                     std::to_string(t.bytes) + " bytes] ends past end of file (size " +
                     std::to_string(size) + ")");
    }
    t.data = base + data_start + t.offset;
  }
  std::vector<size_t> order(infos.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return infos[a].offset < infos[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& p = infos[order[k - 1]];
    const TensorInfo& q = infos[order[k]];
    if (p.offset + p.bytes > q.offset) {
      return Corrupt(TensorWhat(order[k], q.name) + ": data at offset " + std::to_string(q.offset) +
                     " overlaps " + TensorWhat(order[k - 1], p.name) + " [offset " +
                     std::to_string(p.offset) + ", +" + std::to_string(p.bytes) + " bytes]");
    }
  }

  // Split keys (llama.cpp convention), checked when this image is one part of a set: split.no
  // is the 0-based part index, split.count the number of parts.
  if (maps_.size() > 1) {
    const std::string part =
        "part " + std::to_string(split + 1) + " of " + std::to_string(maps_.size());
    StatusOr<uint64_t> no = md.GetUint("split.no");
    if (!no.ok()) return Corrupt(part + ": " + no.status().message());
    if (*no != static_cast<uint64_t>(split)) {
      return Corrupt(part + ": split.no is " + std::to_string(*no) + ", want " +
                     std::to_string(split));
    }
    StatusOr<uint64_t> count = md.GetUint("split.count");
    if (!count.ok()) return Corrupt(part + ": " + count.status().message());
    if (*count != maps_.size()) {
      return Corrupt(part + ": split.count is " + std::to_string(*count) + ", want " +
                     std::to_string(maps_.size()));
    }
  }

  for (size_t i = 0; i < infos.size(); ++i) {
    auto [it, fresh] = index_.emplace(infos[i].name, tensors_.size());
    if (!fresh) {
      const TensorInfo& other = tensors_[it->second];
      return Corrupt(TensorWhat(i, infos[i].name) + ": duplicate tensor name (also in part " +
                     std::to_string(other.split + 1) + ")");
    }
    tensors_.push_back(std::move(infos[i]));
  }
  if (first) {
    version_ = version;
    alignment_ = alignment;
    metadata_ = std::move(md);
  }
  return Status::Ok();
}

}  // namespace shoal::gguf
