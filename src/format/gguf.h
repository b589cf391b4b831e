// GGUF v2/v3 files: reading (mmap, every value type, split files) and writing.
// Every count, offset and size read from a file is checked against the file before use; a bad
// file yields a Status naming the field and its byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace shoal::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;        // GGML_MAX_DIMS: more is rejected as corrupt
inline constexpr int kMaxArrayDepth = 8;  // nesting of arrays inside arrays
inline constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 26;  // all array items in a file
inline constexpr int kMaxSplits = 65535;                           // split.count is a u16

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType t);

struct Value;
struct Array {
  ValueType elem_type = ValueType::kUint8;
  std::vector<Value> items;  // nested arrays allowed
};

// One metadata value. Integers keep their signedness in `type`; the payload is widened.
struct Value {
  ValueType type = ValueType::kUint8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  static Value U8(uint8_t x) { return {ValueType::kUint8, uint64_t{x}}; }
  static Value I8(int8_t x) { return {ValueType::kInt8, int64_t{x}}; }
  static Value U16(uint16_t x) { return {ValueType::kUint16, uint64_t{x}}; }
  static Value I16(int16_t x) { return {ValueType::kInt16, int64_t{x}}; }
  static Value U32(uint32_t x) { return {ValueType::kUint32, uint64_t{x}}; }
  static Value I32(int32_t x) { return {ValueType::kInt32, int64_t{x}}; }
  static Value U64(uint64_t x) { return {ValueType::kUint64, x}; }
  static Value I64(int64_t x) { return {ValueType::kInt64, x}; }
  static Value F32(float x) { return {ValueType::kFloat32, double{x}}; }
  static Value F64(double x) { return {ValueType::kFloat64, x}; }
  static Value Bool(bool x) { return {ValueType::kBool, x}; }
  static Value Str(std::string x) { return {ValueType::kString, std::move(x)}; }
  static Value Arr(ValueType elem, std::vector<Value> items) {
    return {ValueType::kArray, Array{elem, std::move(items)}};
  }
  static Value StrArray(const std::vector<std::string>& xs);
  static Value F32Array(const std::vector<float>& xs);
  static Value I32Array(const std::vector<int32_t>& xs);
};

// Ordered key/value metadata with typed getters. Getters convert between integer widths and from
// integers to floating point; they fail (kNotFound / kInvalidArgument naming the key) on a
// missing key, a wrong type or a value out of the requested range.
class Metadata {
 public:
  const Value* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  StatusOr<uint64_t> GetUint(std::string_view key) const;
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetFloat(std::string_view key) const;
  StatusOr<bool> GetBool(std::string_view key) const;
  StatusOr<std::string> GetString(std::string_view key) const;
  StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  uint64_t GetUintOr(std::string_view key, uint64_t dflt) const;
  double GetFloatOr(std::string_view key, double dflt) const;
  bool GetBoolOr(std::string_view key, bool dflt) const;
  std::string GetStringOr(std::string_view key, std::string dflt) const;

  // Replaces an existing key in place or appends.
  void Set(std::string key, Value value);
  // Appends without looking for an existing key (O(1)); the caller guarantees the key is new.
  void Append(std::string key, Value value) {
    entries_.emplace_back(std::move(key), std::move(value));
  }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

struct TensorInfo {
  std::string name;
  // ne[0] first, as GGUF stores it: ne[0] is the row length (contiguous), ne[1] the row count.
  std::vector<int64_t> shape;
  DType type = DType::kF32;
  uint64_t offset = 0;            // from the start of its file's data section
  size_t bytes = 0;               // checked to lie inside the file
  const uint8_t* data = nullptr;  // mapped, read-only; valid while the File lives
  int split = 0;                  // index of the file (split) holding it

  int64_t n_elements() const;
  int64_t n_rows() const { return n_elements() / (shape.empty() ? 1 : shape[0]); }
};

// A GGUF model: one file, or all files of a split set ("name-00001-of-00003.gguf": opening any of
// them opens the set; metadata comes from the first, tensors from all).
class File {
 public:
  static StatusOr<std::unique_ptr<File>> Open(const std::string& path);
  // Parses an in-memory image (used by the fuzzer and tests); `bytes` must outlive the File.
  static StatusOr<std::unique_ptr<File>> FromMemory(const uint8_t* bytes, size_t size);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const Metadata& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;
  size_t n_splits() const { return maps_.size(); }
  uint64_t total_file_bytes() const;
  uint64_t tensor_data_bytes() const;  // sum of tensor sizes
  const std::vector<std::string>& paths() const { return paths_; }
  // Tells the OS this process no longer needs the mapped pages wholly inside the tensor's bytes
  // (they leave its resident memory; reading them again faults them back in). A no-op for images
  // from FromMemory.
  void ReleasePages(const TensorInfo& t) const;
  // The bytes of split `i` (the whole file for a single-file model), mapped read-only.
  std::span<const uint8_t> SplitBytes(int i) const {
    return {maps_[size_t(i)].base, maps_[size_t(i)].size};
  }
  // Where a tensor's data starts in its split file.
  uint64_t FileOffset(const TensorInfo& t) const {
    return uint64_t(t.data - maps_[size_t(t.split)].base);
  }

 private:
  struct Map {
    const uint8_t* base = nullptr;
    size_t size = 0;
    bool owned = false;  // munmap on close
  };
  File() = default;
  Status ParseOne(const uint8_t* base, size_t size, int split, bool first);

  uint32_t version_ = 3;
  uint64_t alignment_ = kDefaultAlignment;
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  std::vector<Map> maps_;
  std::vector<std::string> paths_;
  std::unordered_map<std::string, size_t> index_;  // tensor name -> position in tensors_
};

// "prefix-00002-of-00003.gguf" for index 1 (0-based) of 3.
std::string SplitPath(std::string_view prefix, int index, int count);
// The inverse: {prefix, 0-based index, count} when `path` follows the convention.
struct SplitName {
  std::string prefix;
  int index = 0;
  int count = 1;
};
std::optional<SplitName> ParseSplitPath(std::string_view path);

// Writes GGUF v3. Tensor data is copied at AddTensor time (or streamed from the given pointer at
// Write time with AddTensorRef).
class Writer {
 public:
  explicit Writer(uint64_t alignment = kDefaultAlignment) : alignment_(alignment) {}
  Metadata& metadata() { return metadata_; }
  // shape: ne[0] first. `data` holds RowBytes(type, ne[0]) * rows bytes.
  Status AddTensor(std::string name, DType type, std::vector<int64_t> shape, const void* data,
                   size_t bytes);
  // Like AddTensor, but keeps only the pointer: `data` must stay valid until the last Write.
  Status AddTensorRef(std::string name, DType type, std::vector<int64_t> shape, const void* data,
                      size_t bytes);
  // Writes to a temporary file beside `path`, then renames it over `path`: a failed write leaves
  // any existing file untouched.
  Status Write(const std::string& path) const;
  // Writes a split set path-0000i-of-0000n.gguf, at most max_tensors_per_file tensors each.
  // `prefix` is the path without the "-00001-of-0000n.gguf" suffix.
  Status WriteSplit(const std::string& prefix, size_t max_tensors_per_file) const;
  // Writes a split set the way llama-gguf-split --split-max-size does: consecutive tensors per
  // part, a new part when the next tensor's data would pass max_bytes_per_file (a tensor larger
  // than that has a part of its own).
  // *n_parts (optional): how many parts were written.
  Status WriteSplitMaxBytes(const std::string& prefix, uint64_t max_bytes_per_file,
                            int* n_parts = nullptr) const;
  std::vector<uint8_t> Serialize() const;  // the whole file image (empty if Check fails)
  // Checks the metadata values (payload matches type, arrays homogeneous, depth) and alignment.
  Status Check() const;

 private:
  struct Pending {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
    const uint8_t* ref = nullptr;  // AddTensorRef: borrowed, `bytes` long
    size_t bytes = 0;
    const uint8_t* ptr() const { return ref ? ref : data.data(); }
  };
  // Parts starting at tensor indices `begins` (ascending, the first 0).
  Status WriteParts(const std::string& prefix, const std::vector<size_t>& begins) const;
  Status AddPending(std::string name, DType type, std::vector<int64_t> shape, const void* data,
                    size_t bytes, bool copy);
  uint64_t alignment_;
  Metadata metadata_;
  std::vector<Pending> tensors_;
};

}  // namespace shoal::gguf
