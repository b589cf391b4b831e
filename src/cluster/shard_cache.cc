#include "cluster/shard_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace shoal::cluster {
namespace {

namespace fs = std::filesystem;

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int64_t MtimeNs(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
#ifdef __APPLE__
  return int64_t(st.st_mtimespec.tv_sec) * 1000000000 + st.st_mtimespec.tv_nsec;
#else
  return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
#endif
}

uint64_t DiskBytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      n += uint64_t(st.st_blocks) * 512;
    }
  }
  return n;
}

bool IsTempName(const std::string& name) { return name.rfind(".tmp-", 0) == 0; }

}  // namespace

std::string EntryName(const gguf::Digest& model_id, const std::vector<ByteRange>& ranges) {
  char tail[24];
  std::snprintf(tail, sizeof(tail), "-%016llx",
                static_cast<unsigned long long>(
                    XXH3_64bits(ranges.data(), ranges.size() * sizeof(ByteRange))));
  return model_id.Hex() + tail;
}

bool ValidEntryName(std::string_view name) {
  return name.size() == 49 && name[32] == '-' && IsHex(name.substr(0, 32)) &&
         IsHex(name.substr(33));
}

StatusOr<Manifest> VerifyEntry(const std::string& dir) {
  const std::string mpath = dir + "/manifest.json";
  struct stat st {};
  if (::lstat(mpath.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Corrupt("no manifest in " + dir);
  }
  if (uint64_t(st.st_size) > kMaxManifestBytes) return Corrupt("the manifest is too large");
  std::ifstream in(mpath, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  SHOAL_ASSIGN_OR_RETURN(Manifest m, ParseManifest(ss.str()));
  const int n = int(m.part_bytes.size());
  size_t ri = 0;
  for (int p = 0; p < n; ++p) {
    const std::string path = dir + "/" + PartFileName(p, n);
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Corrupt(path + " is missing or not a regular file");
    }
    if (uint64_t(st.st_size) != m.part_bytes[size_t(p)]) {
      return Corrupt(path + " is " + std::to_string(st.st_size) + " bytes, the manifest says " +
                     std::to_string(m.part_bytes[size_t(p)]) + " (truncated?)");
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Corrupt("cannot open " + path);
    void* map = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return IoError("cannot map " + path);
    Status bad;
    for (; ri < m.ranges.size() && m.ranges[ri].part == uint32_t(p) && bad.ok(); ++ri) {
      const ByteRange& r = m.ranges[ri];
      const gguf::Digest d =
          gguf::HashBytes(static_cast<const uint8_t*>(map) + r.offset, size_t(r.bytes));
      if (!(d == m.digests[ri])) {
        bad = Corrupt(path + ": bytes " + std::to_string(r.offset) + "+" + std::to_string(r.bytes) +
                      " fail their digest (" + d.Short() + ", manifest " + m.digests[ri].Short() +
                      ")");
      }
    }
    ::munmap(map, size_t(st.st_size));
    SHOAL_RETURN_IF_ERROR(bad);
  }
  return m;
}

std::vector<std::string> EntriesOf(const std::string& cache_dir, const gguf::Digest& model_id) {
  std::vector<std::pair<int64_t, std::string>> found;
  const std::string prefix = model_id.Hex() + "-";
  std::error_code ec;
  for (fs::directory_iterator it(cache_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!ValidEntryName(name) || name.rfind(prefix, 0) != 0) continue;
    const std::string dir = cache_dir + "/" + name;
    found.emplace_back(MtimeNs(dir + "/manifest.json"), dir);
  }
  std::sort(found.begin(), found.end(), std::greater<>());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

void TouchEntry(const std::string& entry_dir) {
  const std::string m = entry_dir + "/manifest.json";
  ::utimensat(AT_FDCWD, m.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
}

uint64_t CacheBytes(const std::string& cache_dir) { return DiskBytes(cache_dir); }

uint64_t CacheRoom(const std::string& cache_dir, uint64_t max_bytes) {
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  struct statvfs vfs {};
  uint64_t free_bytes = max_bytes;
  if (::statvfs(cache_dir.c_str(), &vfs) == 0) free_bytes = uint64_t(vfs.f_bavail) * vfs.f_frsize;
  const uint64_t used = CacheBytes(cache_dir);
  return std::min(max_bytes, used + free_bytes);
}

Status MakeRoom(const std::string& cache_dir, uint64_t incoming, uint64_t max_bytes,
                const std::string& keep_entry) {
  struct Entry {
    int64_t used_ns;
    std::string dir;
    uint64_t bytes;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(cache_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string dir = cache_dir + "/" + name;
    const uint64_t bytes = DiskBytes(dir);
    total += bytes;
    if (name == keep_entry) continue;
    if (ValidEntryName(name)) {
      entries.push_back({MtimeNs(dir + "/manifest.json"), dir, bytes});
    } else if (IsTempName(name) && MtimeNs(dir) < MtimeNs(cache_dir) - int64_t(3600) * 1000000000) {
      entries.push_back({0, dir, bytes});  // a transfer that died an hour before the last change
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used_ns < b.used_ns; });
  for (const Entry& e : entries) {
    if (total + incoming <= max_bytes) break;
    fs::remove_all(e.dir, ec);
    if (!ec) total -= std::min(total, e.bytes);
    std::fprintf(stderr, "shoal worker: evicted %s from the shard cache\n", e.dir.c_str());
  }
  if (total + incoming > max_bytes) {
    return ResourceExhausted("the shard cache " + cache_dir + " cannot take " +
                             std::to_string(incoming) + " bytes more (it holds " +
                             std::to_string(total) + " of at most " + std::to_string(max_bytes) +
                             "; --cache-max)");
  }
  return Status::Ok();
}

StatusOr<uint64_t> ParseByteSize(const std::string& text) {
  if (text.empty() || text.size() > 24) return InvalidArgument("a size like 64G: '" + text + "'");
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (...) {
    return InvalidArgument("a size like 64G, not '" + text + "'");
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double mul = 1;
  if (unit == "K" || unit == "k")
    mul = 1024.0;
  else if (unit == "M" || unit == "m")
    mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "g")
    mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t")
    mul = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    return InvalidArgument("a size like 64G, not '" + text + "'");
  if (!(x >= 0) || x * mul > 9e18) return InvalidArgument("size out of range: '" + text + "'");
  return uint64_t(x * mul);
}

}  // namespace shoal::cluster
