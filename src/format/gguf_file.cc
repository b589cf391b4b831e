// Opening GGUF files: mmap (POSIX, Linux and macOS), split sets, and the in-memory path.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "format/gguf.h"

namespace shoal::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader and writer assume a little-endian host");

namespace {

constexpr std::string_view kSplitTail = ".gguf";

Status MapFile(const std::string& path, const uint8_t** base, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return NotFound(path + ": no such file");
    return IoError(path + ": open: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return IoError(path + ": fstat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  *size = static_cast<size_t>(st.st_size);
  if (*size == 0) {
    ::close(fd);
    *base = nullptr;
    return Status::Ok();  // the parser reports the empty file
  }
  void* p = ::mmap(nullptr, *size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) return IoError(path + ": mmap: " + std::strerror(e));
  *base = static_cast<const uint8_t*>(p);
  return Status::Ok();
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string SplitPath(std::string_view prefix, int index, int count) {
  char tail[64];
  std::snprintf(tail, sizeof(tail), "-%05d-of-%05d.gguf", index + 1, count);
  std::string s(prefix);
  s += tail;
  return s;
}

std::optional<SplitName> ParseSplitPath(std::string_view path) {
  // prefix "-" NNNNN "-of-" MMMMM ".gguf"
  if (path.size() < kSplitTail.size() || path.substr(path.size() - kSplitTail.size()) != kSplitTail)
    return std::nullopt;
  std::string_view s = path.substr(0, path.size() - kSplitTail.size());
  const size_t of = s.rfind("-of-");
  if (of == std::string_view::npos) return std::nullopt;
  const std::string_view count = s.substr(of + 4);
  const size_t dash = s.rfind('-', of == 0 ? 0 : of - 1);
  if (dash == std::string_view::npos || dash >= of) return std::nullopt;
  const std::string_view index = s.substr(dash + 1, of - dash - 1);
  if (!AllDigits(count) || !AllDigits(index) || count.size() > 5 || index.size() > 5)
    return std::nullopt;
  SplitName out;
  out.prefix = std::string(s.substr(0, dash));
  out.count = std::stoi(std::string(count));
  out.index = std::stoi(std::string(index)) - 1;
  if (out.count < 1 || out.index < 0 || out.index >= out.count) return std::nullopt;
  return out;
}

File::~File() {
  for (const Map& m : maps_) {
    if (m.owned && m.base) ::munmap(const_cast<uint8_t*>(m.base), m.size);
  }
}

StatusOr<std::unique_ptr<File>> File::FromMemory(const uint8_t* bytes, size_t size) {
  std::unique_ptr<File> f(new File());
  f->maps_.push_back(Map{bytes, size, false});
  SHOAL_RETURN_IF_ERROR(f->ParseOne(bytes, size, 0, true));
  return f;
}

StatusOr<std::unique_ptr<File>> File::Open(const std::string& path) {
  // Parse the named file alone first: its split keys say whether it belongs to a set.
  std::unique_ptr<File> one(new File());
  {
    Map m;
    m.owned = true;
    SHOAL_RETURN_IF_ERROR(MapFile(path, &m.base, &m.size));
    one->maps_.push_back(m);
    one->paths_.push_back(path);
    SHOAL_RETURN_IF_ERROR(one->ParseOne(m.base, m.size, 0, true).With(path));
  }
  const Metadata& md = one->metadata_;
  if (!md.Has("split.count")) return one;
  StatusOr<uint64_t> count = md.GetUint("split.count");
  if (!count.ok()) return Corrupt(count.status().message()).With(path);
  if (*count <= 1) return one;
  if (*count > static_cast<uint64_t>(kMaxSplits)) {
    return Corrupt("split.count " + std::to_string(*count) + " exceeds " +
                   std::to_string(kMaxSplits))
        .With(path);
  }
  const std::optional<SplitName> name = ParseSplitPath(path);
  if (!name) {
    return InvalidArgument("file is part of a " + std::to_string(*count) +
                           "-part split set, but its name does not end in "
                           "-NNNNN-of-MMMMM.gguf")
        .With(path);
  }
  if (static_cast<uint64_t>(name->count) != *count) {
    return Corrupt("split.count is " + std::to_string(*count) + ", but the name says " +
                   std::to_string(name->count) + " parts")
        .With(path);
  }

  // Map every part, then parse them in order: metadata from the first, tensors from all.
  std::unique_ptr<File> set(new File());
  for (int i = 0; i < name->count; ++i) {
    const std::string p = SplitPath(name->prefix, i, name->count);
    Map m;
    m.owned = true;
    Status s = MapFile(p, &m.base, &m.size);
    if (s.code() == StatusCode::kNotFound) {
      return NotFound("split part " + std::to_string(i + 1) + " of " + std::to_string(name->count) +
                      " is missing: " + p);
    }
    SHOAL_RETURN_IF_ERROR(s);
    set->maps_.push_back(m);
    set->paths_.push_back(p);
  }
  for (int i = 0; i < name->count; ++i) {
    const Map& m = set->maps_[static_cast<size_t>(i)];
    SHOAL_RETURN_IF_ERROR(set->ParseOne(m.base, m.size, i, i == 0).With(set->paths_[i]));
  }
  if (set->metadata_.Has("split.tensors.count")) {
    StatusOr<int64_t> n = set->metadata_.GetInt("split.tensors.count");
    if (!n.ok()) return Corrupt(n.status().message()).With(set->paths_[0]);
    if (*n < 0 || static_cast<uint64_t>(*n) != set->tensors_.size()) {
      return Corrupt("split.tensors.count is " + std::to_string(*n) + ", but the " +
                     std::to_string(name->count) + " parts hold " +
                     std::to_string(set->tensors_.size()) + " tensors")
          .With(set->paths_[0]);
    }
  }
  return set;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t File::total_file_bytes() const {
  uint64_t n = 0;
  for (const Map& m : maps_) n += m.size;
  return n;
}

uint64_t File::tensor_data_bytes() const {
  uint64_t n = 0;
  for (const TensorInfo& t : tensors_) n += t.bytes;
  return n;
}

void File::ReleasePages(const TensorInfo& t) const {
  if (t.split < 0 || size_t(t.split) >= maps_.size() || !maps_[size_t(t.split)].owned) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(t.data) + page - 1) / page * page;
  const uintptr_t e = (uintptr_t(t.data) + t.bytes) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace shoal::gguf
