#include "cluster/transfer.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/arch.h"

namespace shoal::cluster {
namespace {

constexpr uint64_t kMaxRanges = uint64_t{1} << 24;
constexpr size_t kChunkBytes = size_t{4} << 20;

enum Kind : uint32_t { kEnd = 0, kRanges = 1, kData = 2, kDigest = 3 };

struct Header {
  int32_t target = -1;
  uint32_t kind = kEnd;
  uint64_t bytes = 0;
};
static_assert(sizeof(Header) == 16);

std::vector<ByteRange> Merge(std::vector<ByteRange> r) {
  std::sort(r.begin(), r.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  std::vector<ByteRange> out;
  for (const ByteRange& x : r) {
    if (x.bytes == 0) continue;
    if (!out.empty() && x.offset <= out.back().offset + out.back().bytes) {
      const uint64_t end = std::max(out.back().offset + out.back().bytes, x.offset + x.bytes);
      out.back().bytes = end - out.back().offset;
    } else {
      out.push_back(x);
    }
  }
  return out;
}

// True when every range of `need` lies inside the union `have` (both merged).
bool Covers(const std::vector<ByteRange>& have, const std::vector<ByteRange>& need) {
  for (const ByteRange& n : need) {
    auto it = std::upper_bound(have.begin(), have.end(), n.offset,
                               [](uint64_t off, const ByteRange& h) { return off < h.offset; });
    if (it == have.begin()) return false;
    --it;
    if (n.offset + n.bytes > it->offset + it->bytes) return false;
  }
  return true;
}

std::string ManifestPath(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".ranges";
}
std::string ModelPath(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".gguf";
}

std::vector<ByteRange> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  std::string magic;
  std::vector<ByteRange> out;
  if (!(in >> magic) || magic != "shoal-shard-cache-v1") return out;
  ByteRange r;
  while (in >> r.offset >> r.bytes) out.push_back(r);
  return Merge(out);
}

Status WriteManifest(const std::string& path, const std::vector<ByteRange>& ranges) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "shoal-shard-cache-v1\n";
    for (const ByteRange& r : ranges) out << r.offset << " " << r.bytes << "\n";
    if (!out) return IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<ByteRange>> ShardByteRanges(const gguf::File& file,
                                                 const model::ModelConfig& c,
                                                 const model::Shard& shard) {
  if (file.n_splits() != 1) {
    return Unimplemented("shipping weights from a split GGUF set: copy the files to the node");
  }
  std::vector<ByteRange> out;
  uint64_t header_end = file.SplitBytes(0).size();
  for (const gguf::TensorInfo& t : file.tensors())
    header_end = std::min(header_end, file.FileOffset(t));
  out.push_back({0, header_end});
  Status status;
  model::FindArch(c.arch)->for_each_tensor(c, [&](const model::TensorSpec& spec) {
    const gguf::TensorInfo* t = file.FindTensor(spec.name);
    if (t == nullptr) {
      status = NotFound("tensor '" + spec.name + "' is missing");
      return;
    }
    const model::TensorSlice s = model::SliceFor(c, shard, spec);
    if (!s.held) return;
    const uint64_t base = file.FileOffset(*t);
    if (!spec.matrix) {
      out.push_back({base, t->bytes});
      return;
    }
    const uint64_t row_bytes = RowBytes(t->type, spec.shape[0]);
    if (s.group > 0) {  // the held rows of each group (whole rows)
      for (int64_t g = s.row_begin; g < s.row_end; g += s.group) {
        out.push_back({base + uint64_t(g + s.group_begin) * row_bytes,
                       uint64_t(s.group_end - s.group_begin) * row_bytes});
      }
      return;
    }
    if (s.full_cols(spec.shape[0])) {
      out.push_back({base + uint64_t(s.row_begin) * row_bytes,
                     uint64_t(s.row_end - s.row_begin) * row_bytes});
      return;
    }
    const uint64_t col0 = RowBytes(t->type, s.col_begin);
    const uint64_t seg = RowBytes(t->type, s.col_end - s.col_begin);
    for (int64_t r = s.row_begin; r < s.row_end; ++r) {
      out.push_back({base + uint64_t(r) * row_bytes + col0, seg});
    }
  });
  SHOAL_RETURN_IF_ERROR(status);
  return Merge(std::move(out));
}

std::string DefaultShardCacheDir() {
  if (const char* c = std::getenv("SHOAL_CACHE"); c && *c) return std::string(c) + "/shards";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/shoal/shards";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/shoal/shards";
  return "/tmp/shoal-cache/shards";
}

StatusOr<std::string> CachedModel(const std::string& dir, const std::string& id,
                                  const model::Shard& shard) {
  const std::string path = ModelPath(dir, id);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no cached copy of model " + id);
  const std::vector<ByteRange> have = ReadManifest(ManifestPath(dir, id));
  if (have.empty()) return NotFound("no manifest for the cached copy of model " + id);
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> f, gguf::File::Open(path));
  SHOAL_ASSIGN_OR_RETURN(model::ModelConfig c, model::ParseConfig(f->metadata(), f.get()));
  SHOAL_ASSIGN_OR_RETURN(std::vector<ByteRange> need, ShardByteRanges(*f, c, shard));
  if (!Covers(have, need)) return NotFound("the cached copy lacks part of this shard");
  return path;
}

Status SendShards(comm::Group& g, const gguf::File& file, const model::ModelConfig& config,
                  const std::vector<model::Shard>& shards) {
  const int n = g.size();
  uint32_t mine = 0;
  std::vector<uint32_t> need(size_t(n), 0);
  std::vector<size_t> sizes(size_t(n), sizeof(uint32_t));
  SHOAL_RETURN_IF_ERROR(g.GatherV(&mine, need.data(), sizes, 0));
  auto round = [&](int target, uint32_t kind, const void* data, uint64_t bytes) -> Status {
    Header h{target, kind, bytes};
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&h, sizeof(h), 0));
    return kind == kEnd ? Status::Ok() : g.Send(target, data, bytes);
  };
  const std::span<const uint8_t> src = file.SplitBytes(0);
  std::vector<uint8_t> chunk;
  for (int r = 1; r < n; ++r) {
    if (need[size_t(r)] == 0) continue;
    SHOAL_ASSIGN_OR_RETURN(std::vector<ByteRange> ranges,
                           ShardByteRanges(file, config, shards[size_t(r)]));
    SHOAL_RETURN_IF_ERROR(round(r, kRanges, ranges.data(), ranges.size() * sizeof(ByteRange)));
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    chunk.clear();
    auto flush = [&]() -> Status {
      if (chunk.empty()) return Status::Ok();
      crypto_hash_sha256_update(&sha, chunk.data(), chunk.size());
      Status s = round(r, kData, chunk.data(), chunk.size());
      chunk.clear();
      return s;
    };
    for (const ByteRange& br : ranges) {
      for (uint64_t done = 0; done < br.bytes;) {
        const size_t take = size_t(std::min<uint64_t>(br.bytes - done, kChunkBytes - chunk.size()));
        chunk.insert(chunk.end(), src.data() + br.offset + done,
                     src.data() + br.offset + done + take);
        done += take;
        if (chunk.size() == kChunkBytes) SHOAL_RETURN_IF_ERROR(flush());
      }
    }
    SHOAL_RETURN_IF_ERROR(flush());
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&sha, digest);
    SHOAL_RETURN_IF_ERROR(round(r, kDigest, digest, sizeof(digest)));
  }
  return round(-1, kEnd, nullptr, 0);
}

Status ReceiveShard(comm::Group& g, bool need, const std::string& have_path, const std::string& dir,
                    const std::string& id, uint64_t model_bytes, StatusOr<std::string>* path) {
  *path = have_path;
  uint32_t mine = need ? 1 : 0;
  std::vector<size_t> sizes(size_t(g.size()), sizeof(uint32_t));
  SHOAL_RETURN_IF_ERROR(g.GatherV(&mine, nullptr, sizes, 0));
  std::vector<ByteRange> ranges;
  size_t range_i = 0;
  uint64_t range_done = 0, data_left = 0;
  int fd = -1;
  crypto_hash_sha256_state sha;
  bool verified = false;
  std::vector<uint8_t> buf;
  Status failure;
  auto fail = [&](Status s) {
    if (failure.ok()) failure = std::move(s);
  };
  for (;;) {
    Header h;
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&h, sizeof(h), 0));
    if (h.kind == kEnd) break;
    if (h.target != g.rank()) continue;
    if (!need) return Corrupt("rank 0 sent weights this rank did not ask for");
    if (h.kind == kRanges) {
      if (h.bytes % sizeof(ByteRange) != 0 || h.bytes / sizeof(ByteRange) > kMaxRanges ||
          h.bytes == 0 || !ranges.empty()) {
        return Corrupt("rank 0 announced " + std::to_string(h.bytes) + " bytes of ranges");
      }
      ranges.resize(h.bytes / sizeof(ByteRange));
      SHOAL_RETURN_IF_ERROR(g.Recv(0, ranges.data(), h.bytes));
      uint64_t end = 0;
      for (const ByteRange& r : ranges) {
        if (r.offset < end || r.bytes == 0 || r.bytes > model_bytes ||
            r.offset > model_bytes - r.bytes) {
          return Corrupt("rank 0 sent a byte range outside the model or out of order");
        }
        end = r.offset + r.bytes;
        data_left += r.bytes;
      }
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      fd = ::open(ModelPath(dir, id).c_str(), O_RDWR | O_CREAT, 0644);
      if (fd < 0 || ::ftruncate(fd, off_t(model_bytes)) != 0) {
        fail(IoError("cannot create " + ModelPath(dir, id) + ": " + std::strerror(errno)));
      }
      crypto_hash_sha256_init(&sha);
    } else if (h.kind == kData) {
      if (ranges.empty() || h.bytes == 0 || h.bytes > kChunkBytes || h.bytes > data_left) {
        return Corrupt("rank 0 sent " + std::to_string(h.bytes) + " bytes of data unannounced");
      }
      buf.resize(h.bytes);
      SHOAL_RETURN_IF_ERROR(g.Recv(0, buf.data(), h.bytes));
      crypto_hash_sha256_update(&sha, buf.data(), buf.size());
      data_left -= h.bytes;
      for (size_t at = 0; at < buf.size();) {
        const ByteRange& r = ranges[range_i];
        const size_t take = size_t(std::min<uint64_t>(r.bytes - range_done, buf.size() - at));
        if (fd >= 0 &&
            ::pwrite(fd, buf.data() + at, take, off_t(r.offset + range_done)) != ssize_t(take)) {
          fail(IoError("writing the shard cache: " + std::string(std::strerror(errno))));
        }
        at += take;
        range_done += take;
        if (range_done == r.bytes) ++range_i, range_done = 0;
      }
    } else if (h.kind == kDigest) {
      uint8_t want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
      if (h.bytes != sizeof(want) || data_left != 0) {
        return Corrupt("rank 0 ended the shard early");
      }
      SHOAL_RETURN_IF_ERROR(g.Recv(0, want, sizeof(want)));
      crypto_hash_sha256_final(&sha, got);
      if (sodium_memcmp(want, got, sizeof(got)) != 0) {
        return Corrupt("the shard received from rank 0 fails its SHA-256 check");
      }
      verified = true;
    } else {
      return Corrupt("rank 0 sent transfer message kind " + std::to_string(h.kind));
    }
  }
  if (!need) return Status::Ok();
  if (fd >= 0) {
    if (::fsync(fd) != 0) fail(IoError("fsync of the shard cache failed"));
    ::close(fd);
  }
  if (!verified) return Corrupt("rank 0 sent no weights for this rank");
  if (failure.ok()) {
    std::vector<ByteRange> all = ReadManifest(ManifestPath(dir, id));
    all.insert(all.end(), ranges.begin(), ranges.end());
    failure = WriteManifest(ManifestPath(dir, id), Merge(std::move(all)));
  }
  *path = failure.ok() ? StatusOr<std::string>(ModelPath(dir, id)) : failure;
  return Status::Ok();
}

}  // namespace shoal::cluster
