#include "format/identity_cache.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace shoal::gguf {
namespace {

using nlohmann::json;

struct FileKey {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileKey&) const = default;
};

bool StatKey(const std::string& path, FileKey* k) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  k->dev = uint64_t(st.st_dev);
  k->ino = uint64_t(st.st_ino);
  k->size = uint64_t(st.st_size);
#ifdef __APPLE__
  k->mtime_ns = int64_t(st.st_mtimespec.tv_sec) * 1000000000 + st.st_mtimespec.tv_nsec;
#else
  k->mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
#endif
  return true;
}

// The cache file of a model: named by a hash of its first file's absolute path.
std::string CachePath(const std::string& dir, const std::string& path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) abs = path;
  char name[40];
  std::snprintf(name, sizeof(name), "%016llx.id",
                static_cast<unsigned long long>(XXH3_64bits(abs.data(), abs.size())));
  return dir + "/" + name;
}

// The cached identity when the cache file parses, names exactly these files with these keys,
// lists exactly the file's tensors and its digests combine to its model digest.
bool ReadCache(const std::string& cache_path, const File& file, const std::vector<FileKey>& keys,
               Identity* out) {
  std::ifstream in(cache_path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  const json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  // Every number must be an integer before it is converted (a float out of range would not be).
  bool integers = true;
  const auto walk = [&](const json& x, const auto& self) -> void {
    if (x.is_number_float()) integers = false;
    if (x.is_structured()) {
      for (const json& y : x) self(y, self);
    }
  };
  walk(j, walk);
  if (!integers) return false;
  try {
    if (j.at("version").get<int>() != 1) return false;
    const json& files = j.at("files");
    if (!files.is_array() || files.size() != keys.size()) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      const json& f = files[i];
      FileKey k{f.at("dev").get<uint64_t>(), f.at("ino").get<uint64_t>(),
                f.at("size").get<uint64_t>(), f.at("mtime_ns").get<int64_t>()};
      if (!(k == keys[i]) || f.at("path").get<std::string>() != file.paths()[i]) return false;
    }
    Identity id;
    auto md = ParseDigest(j.at("metadata").get<std::string>());
    auto model = ParseDigest(j.at("model").get<std::string>());
    if (!md.ok() || !model.ok()) return false;
    id.metadata = *md;
    id.model = *model;
    id.tensor_bytes = j.at("tensor_bytes").get<uint64_t>();
    const json& ts = j.at("tensors");
    if (!ts.is_array() || ts.size() != file.tensors().size()) return false;
    for (const json& t : ts) {
      if (!t.is_array() || t.size() != 2) return false;
      auto d = ParseDigest(t[1].get<std::string>());
      if (!d.ok()) return false;
      std::string name = t[0].get<std::string>();
      if (!id.tensors.empty() && !(id.tensors.back().name < name)) return false;
      if (file.FindTensor(name) == nullptr) return false;
      id.tensors.push_back({std::move(name), *d});
    }
    if (!(CombineIdentity(id.metadata, id.tensors) == id.model)) return false;
    if (id.tensor_bytes != file.tensor_data_bytes()) return false;
    *out = std::move(id);
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

void WriteCache(const std::string& dir, const std::string& cache_path, const File& file,
                const std::vector<FileKey>& keys, const Identity& id) {
  json files = json::array();
  for (size_t i = 0; i < keys.size(); ++i) {
    files.push_back({{"path", file.paths()[i]},
                     {"dev", keys[i].dev},
                     {"ino", keys[i].ino},
                     {"size", keys[i].size},
                     {"mtime_ns", keys[i].mtime_ns}});
  }
  json ts = json::array();
  for (const TensorDigest& t : id.tensors) ts.push_back({t.name, t.digest.Hex()});
  const json j = {{"version", 1},
                  {"files", files},
                  {"model", id.model.Hex()},
                  {"metadata", id.metadata.Hex()},
                  {"tensor_bytes", id.tensor_bytes},
                  {"tensors", ts}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string tmp = cache_path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, cache_path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

std::string DefaultCacheDir(std::string_view sub) {
  const std::string s(sub);
  if (const char* c = std::getenv("SHOAL_CACHE"); c && *c) return std::string(c) + "/" + s;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/shoal/" + s;
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/shoal/" + s;
  return "/tmp/shoal-cache/" + s;
}

std::string DefaultIdentityCacheDir() { return DefaultCacheDir("ids"); }

IdentityLookup LookupIdentity(const File& file, ThreadPool& pool, const std::string& cache_dir,
                              const ProgressFn& on_progress) {
  const auto t0 = std::chrono::steady_clock::now();
  IdentityLookup r;
  std::vector<FileKey> keys(file.paths().size());
  bool keyed = !cache_dir.empty() && !keys.empty() && keys.size() == file.n_splits();
  for (size_t i = 0; keyed && i < keys.size(); ++i) keyed = StatKey(file.paths()[i], &keys[i]);
  const std::string cache_path = keyed ? CachePath(cache_dir, file.paths()[0]) : "";
  if (keyed && ReadCache(cache_path, file, keys, &r.identity)) {
    r.from_cache = true;
  } else {
    r.identity = ComputeIdentity(file, pool, on_progress);
    if (keyed) WriteCache(cache_dir, cache_path, file, keys, r.identity);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace shoal::gguf
