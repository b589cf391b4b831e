#include "format/identity.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

namespace shoal::gguf {
namespace {

constexpr size_t kPieceBytes = size_t{16} << 20;  // tensors are hashed in pieces this large

Digest FromXxh(XXH128_hash_t h) { return {h.high64, h.low64}; }

// Streams typed values into an XXH3-128 state.
class Hasher {
 public:
  Hasher() { XXH3_128bits_reset(state_); }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void Bytes(const void* p, size_t n) {
    if (n > 0) XXH3_128bits_update(state_, p, n);
  }
  void U64(uint64_t x) { Bytes(&x, 8); }
  void U32(uint32_t x) { Bytes(&x, 4); }
  void Str(std::string_view s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  void Dig(const Digest& d) {
    U64(d.hi);
    U64(d.lo);
  }
  Digest Final() const { return FromXxh(XXH3_128bits_digest(state_)); }

 private:
  XXH3_state_t* state_ = XXH3_createState();
};

void HashValue(const Value& v, Hasher& h) {
  h.U32(uint32_t(v.type));
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      h.U64(std::get<uint64_t>(v.v));
      break;
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      h.U64(uint64_t(std::get<int64_t>(v.v)));
      break;
    case ValueType::kFloat32:
    case ValueType::kFloat64: {
      const double d = std::get<double>(v.v);
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      h.U64(bits);
      break;
    }
    case ValueType::kBool:
      h.U32(std::get<bool>(v.v) ? 1 : 0);
      break;
    case ValueType::kString:
      h.Str(std::get<std::string>(v.v));
      break;
    case ValueType::kArray: {
      const Array& a = std::get<Array>(v.v);
      h.U32(uint32_t(a.elem_type));
      h.U64(a.items.size());
      for (const Value& x : a.items) HashValue(x, h);
      break;
    }
  }
}

// Keys that describe the layout, not the model.
bool LayoutKey(std::string_view key) {
  return key == "general.alignment" || key.substr(0, 6) == "split.";
}

Digest MetadataDigest(const Metadata& md) {
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : md.entries()) {
    if (!LayoutKey(e.first)) entries.push_back(&e);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  Hasher h;
  h.Str("shoal-metadata-v1");
  h.U64(entries.size());
  for (const auto* e : entries) {
    h.Str(e->first);
    HashValue(e->second, h);
  }
  return h.Final();
}

}  // namespace

std::string Digest::Hex() const {
  static const char* kHex = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[size_t(15 - i)] = kHex[(hi >> (4 * i)) & 15];
    s[size_t(31 - i)] = kHex[(lo >> (4 * i)) & 15];
  }
  return s;
}

StatusOr<Digest> ParseDigest(std::string_view hex) {
  if (hex.size() != 32) return InvalidArgument("a digest is 32 hex digits");
  Digest d;
  for (size_t i = 0; i < 32; ++i) {
    const char c = hex[i];
    uint64_t x;
    if (c >= '0' && c <= '9') {
      x = uint64_t(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      x = uint64_t(c - 'a' + 10);
    } else {
      return InvalidArgument("a digest is 32 lowercase hex digits");
    }
    uint64_t& half = i < 16 ? d.hi : d.lo;
    half = (half << 4) | x;
  }
  return d;
}

Digest HashBytes(const void* data, size_t bytes) {
  return FromXxh(XXH3_128bits(bytes ? data : "", bytes));
}

const Digest* Identity::FindTensor(std::string_view name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorDigest& t, std::string_view n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &it->digest : nullptr;
}

Digest CombineIdentity(const Digest& metadata, const std::vector<TensorDigest>& tensors) {
  Hasher h;
  h.Str("shoal-model-id-v1");
  h.Dig(metadata);
  h.U64(tensors.size());
  for (const TensorDigest& t : tensors) {
    h.Str(t.name);
    h.Dig(t.digest);
  }
  return h.Final();
}

Identity ComputeIdentity(const File& file, ThreadPool& pool, const ProgressFn& on_progress) {
  Identity id;
  id.metadata = MetadataDigest(file.metadata());
  std::vector<const TensorInfo*> ts;
  for (const TensorInfo& t : file.tensors()) ts.push_back(&t);
  std::sort(ts.begin(), ts.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  // Work items: (tensor, piece); each piece's digest lands in its tensor's slot.
  struct Item {
    size_t tensor;
    size_t piece;
  };
  std::vector<Item> items;
  std::vector<std::vector<Digest>> pieces(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const size_t n = std::max<size_t>(1, (ts[i]->bytes + kPieceBytes - 1) / kPieceBytes);
    pieces[i].resize(n);
    for (size_t p = 0; p < n; ++p) items.push_back({i, p});
    id.tensor_bytes += ts[i]->bytes;
  }
  // A file opened from disk is hashed through its mapping, and each piece's pages are handed
  // back once hashed: hashing leaves no page of the model in this process's resident memory (a
  // pooled node's peak memory stays its shard's). Reading with pread instead measured 1.7-2x
  // slower here (the copy).
  const bool mapped_from_disk = !file.paths().empty();
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  // Items run in order from a shared counter; tensors are cut finely enough to balance.
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> hashed{0};
  std::mutex report_mu;
  uint64_t reported = 0;  // under report_mu
  if (on_progress) on_progress(0, id.tensor_bytes);
  pool.Run([&](int, int) {
    for (size_t k; (k = next.fetch_add(1)) < items.size();) {
      const TensorInfo& t = *ts[items[k].tensor];
      const size_t off = items[k].piece * kPieceBytes;
      const size_t n = std::min(kPieceBytes, t.bytes - std::min(t.bytes, off));
      const uint8_t* p = t.data ? t.data + off : nullptr;
      pieces[items[k].tensor][items[k].piece] = HashBytes(p, n);
      if (mapped_from_disk && p != nullptr) {
        const uintptr_t b = (uintptr_t(p) + page - 1) / page * page,
                        e = (uintptr_t(p) + n) / page * page;
        if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
      }
      hashed.fetch_add(n);
      // One thread reports at a time (the others go on hashing); below the total: the last
      // report, with the total, comes once every piece is done.
      std::unique_lock<std::mutex> l(report_mu, std::try_to_lock);
      if (on_progress && l.owns_lock()) {
        const uint64_t d =
            std::min(hashed.load(), id.tensor_bytes - std::min<uint64_t>(1, id.tensor_bytes));
        if (d > reported) on_progress(reported = d, id.tensor_bytes);
      }
    }
  });
  if (on_progress) on_progress(id.tensor_bytes, id.tensor_bytes);
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = *ts[i];
    Hasher h;
    h.Str(t.name);
    h.U32(uint32_t(t.type));
    h.U64(t.shape.size());
    for (int64_t d : t.shape) h.U64(uint64_t(d));
    h.U64(t.bytes);
    for (const Digest& d : pieces[i]) h.Dig(d);
    id.tensors.push_back({t.name, h.Final()});
  }
  id.model = CombineIdentity(id.metadata, id.tensors);
  return id;
}

}  // namespace shoal::gguf
