#include "cluster/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "format/identity_cache.h"
#include "model/arch.h"

namespace shoal::cluster {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunkBytes = size_t{4} << 20;

enum Kind : uint32_t { kEnd = 0, kRanges = 1, kData = 2, kDigests = 3, kNoRoom = 4 };

struct Header {
  int32_t target = -1;
  uint32_t kind = kEnd;
  uint64_t bytes = 0;
};
static_assert(sizeof(Header) == 16);

// An XXH3-128 streaming state.
class RangeHash {
 public:
  RangeHash() { XXH3_128bits_reset(s_); }
  ~RangeHash() { XXH3_freeState(s_); }
  RangeHash(const RangeHash&) = delete;
  RangeHash& operator=(const RangeHash&) = delete;
  void Update(const void* p, size_t n) { XXH3_128bits_update(s_, p, n); }
  gguf::Digest Take() {
    const XXH128_hash_t h = XXH3_128bits_digest(s_);
    XXH3_128bits_reset(s_);
    return {h.high64, h.low64};
  }

 private:
  XXH3_state_t* s_ = XXH3_createState();
};

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open " + dir + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : IoError("fsync " + dir + ": " + std::strerror(errno));
}

// Writes the manifest into the finished temporary entry `tmp` and renames it to `final_dir`.
Status CommitEntry(const std::string& cache_dir, const std::string& tmp,
                   const std::string& final_dir, const Manifest& m) {
  const std::string mpath = tmp + "/manifest.json";
  {
    const std::string text = ManifestJson(m);
    const int fd = ::open(mpath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("create " + mpath + ": " + std::strerror(errno));
    const bool ok =
        ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return IoError("write " + mpath + ": " + std::strerror(errno));
  }
  SHOAL_RETURN_IF_ERROR(SyncDir(tmp));
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    // An entry of that name exists (another worker of this machine wrote the same shard, or a
    // broken copy): replace it.
    std::error_code ec;
    fs::remove_all(final_dir, ec);
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      return IoError("rename " + tmp + " to " + final_dir + ": " + std::strerror(errno));
    }
  }
  return SyncDir(cache_dir);
}

}  // namespace

StatusOr<std::vector<ByteRange>> ShardByteRanges(const gguf::File& file,
                                                 const model::ModelConfig& c,
                                                 const model::Shard& shard) {
  SHOAL_RETURN_IF_ERROR(model::ValidateShard(c, shard));
  std::vector<ByteRange> out;
  // Each file's header: everything before its first tensor's data.
  for (size_t p = 0; p < file.n_splits(); ++p) {
    uint64_t header_end = file.SplitBytes(int(p)).size();
    for (const gguf::TensorInfo& t : file.tensors()) {
      if (size_t(t.split) == p) header_end = std::min(header_end, file.FileOffset(t));
    }
    out.push_back({uint32_t(p), 0, 0, header_end});
  }
  Status status;
  model::FindArch(c.arch)->for_each_tensor(c, [&](const model::TensorSpec& spec) {
    const gguf::TensorInfo* t = file.FindTensor(spec.name);
    if (t == nullptr) {
      status = NotFound("tensor '" + spec.name + "' is missing");
      return;
    }
    const model::TensorSlice s = model::SliceFor(c, shard, spec);
    if (!s.held) return;
    const uint32_t part = uint32_t(t->split);
    const uint64_t base = file.FileOffset(*t);
    if (!spec.matrix) {
      out.push_back({part, 0, base, t->bytes});
      return;
    }
    const uint64_t row_bytes = RowBytes(t->type, spec.shape[0]);
    if (s.group > 0) {  // the held rows of each group (whole rows)
      for (int64_t g = s.row_begin; g < s.row_end; g += s.group) {
        out.push_back({part, 0, base + uint64_t(g + s.group_begin) * row_bytes,
                       uint64_t(s.group_end - s.group_begin) * row_bytes});
      }
      return;
    }
    if (s.full_cols(spec.shape[0])) {
      out.push_back({part, 0, base + uint64_t(s.row_begin) * row_bytes,
                     uint64_t(s.row_end - s.row_begin) * row_bytes});
      return;
    }
    const uint64_t col0 = RowBytes(t->type, s.col_begin);
    const uint64_t seg = RowBytes(t->type, s.col_end - s.col_begin);
    for (int64_t r = s.row_begin; r < s.row_end; ++r) {
      out.push_back({part, 0, base + uint64_t(r) * row_bytes + col0, seg});
    }
  });
  SHOAL_RETURN_IF_ERROR(status);
  return MergeRanges(std::move(out));
}

std::string DefaultShardCacheDir() { return gguf::DefaultCacheDir("shards"); }

StatusOr<std::string> CachedModel(const std::string& dir, const gguf::Digest& id,
                                  const model::Shard& shard, std::string* note) {
  for (const std::string& entry : EntriesOf(dir, id)) {
    auto drop = [&](const Status& why) {
      std::error_code ec;
      fs::remove_all(entry, ec);
      if (note) *note += "removed the cached shard " + entry + ": " + why.ToString() + "\n";
    };
    StatusOr<Manifest> m = VerifyEntry(entry);
    if (!m.ok()) {
      drop(m.status());
      continue;
    }
    if (!(m->model_id == id)) {
      drop(Corrupt("its manifest names model " + m->model_id.Hex()));
      continue;
    }
    const std::string path = entry + "/" + PartFileName(0, int(m->part_bytes.size()));
    auto f = gguf::File::Open(path);
    if (!f.ok()) {
      drop(f.status());
      continue;
    }
    auto c = model::ParseConfig((*f)->metadata(), f->get());
    if (!c.ok()) continue;
    auto need = ShardByteRanges(**f, *c, shard);
    if (!need.ok() || !Covers(m->ranges, *need)) continue;
    TouchEntry(entry);
    return path;
  }
  return NotFound("no cached copy of this shard of model " + id.Hex());
}

Status SendShards(comm::Group& g, const gguf::File& file, const model::ModelConfig& config,
                  const std::vector<model::Shard>& shards, const ShipProgressFn& on_progress) {
  const int n = g.size();
  uint64_t mine = 0;
  std::vector<uint64_t> room(size_t(n), 0);
  std::vector<size_t> sizes(size_t(n), sizeof(uint64_t));
  SHOAL_RETURN_IF_ERROR(g.GatherV(&mine, room.data(), sizes, 0));
  auto round = [&](int target, uint32_t kind, const void* data, uint64_t bytes) -> Status {
    Header h{target, kind, bytes};
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&h, sizeof(h), 0));
    return kind == kEnd || kind == kNoRoom ? Status::Ok() : g.Send(target, data, bytes);
  };
  if (on_progress) {  // every node's total first, so that all of them show from the start
    for (int r = 1; r < n; ++r) {
      if (room[size_t(r)] == 0) continue;
      auto ranges = ShardByteRanges(file, config, shards[size_t(r)]);
      if (!ranges.ok()) continue;  // the loop below says why
      uint64_t total = 0;
      for (const ByteRange& br : *ranges) total += br.bytes;
      if (total <= room[size_t(r)]) on_progress(r, 0, total);
    }
  }
  std::vector<uint8_t> chunk;
  RangeHash hash;
  for (int r = 1; r < n; ++r) {
    if (room[size_t(r)] == 0) continue;
    SHOAL_ASSIGN_OR_RETURN(std::vector<ByteRange> ranges,
                           ShardByteRanges(file, config, shards[size_t(r)]));
    uint64_t total = 0;
    for (const ByteRange& br : ranges) total += br.bytes;
    if (total > room[size_t(r)]) {
      SHOAL_RETURN_IF_ERROR(round(r, kNoRoom, nullptr, total));
      continue;
    }
    SHOAL_RETURN_IF_ERROR(round(r, kRanges, ranges.data(), ranges.size() * sizeof(ByteRange)));
    std::vector<uint64_t> digests;  // hi, lo per range
    chunk.clear();
    uint64_t sent = 0;
    auto flush = [&]() -> Status {
      if (chunk.empty()) return Status::Ok();
      Status s = round(r, kData, chunk.data(), chunk.size());
      sent += chunk.size();
      chunk.clear();
      if (s.ok() && on_progress) on_progress(r, sent, total);
      return s;
    };
    for (const ByteRange& br : ranges) {
      const uint8_t* src = file.SplitBytes(int(br.part)).data() + br.offset;
      for (uint64_t done = 0; done < br.bytes;) {
        const size_t take = size_t(std::min<uint64_t>(br.bytes - done, kChunkBytes - chunk.size()));
        hash.Update(src + done, take);
        chunk.insert(chunk.end(), src + done, src + done + take);
        done += take;
        if (chunk.size() == kChunkBytes) SHOAL_RETURN_IF_ERROR(flush());
      }
      const gguf::Digest d = hash.Take();
      digests.push_back(d.hi);
      digests.push_back(d.lo);
    }
    SHOAL_RETURN_IF_ERROR(flush());
    SHOAL_RETURN_IF_ERROR(round(r, kDigests, digests.data(), digests.size() * sizeof(uint64_t)));
  }
  return round(-1, kEnd, nullptr, 0);
}

Status ReceiveShard(comm::Group& g, const ReceiveOptions& o, StatusOr<std::string>* path) {
  const bool need = o.room_bytes > 0;
  uint64_t mine = o.room_bytes;
  std::vector<size_t> sizes(size_t(g.size()), sizeof(uint64_t));
  SHOAL_RETURN_IF_ERROR(g.GatherV(&mine, nullptr, sizes, 0));
  const int n_parts = int(o.part_bytes.size());
  std::vector<ByteRange> ranges;
  std::vector<gguf::Digest> got;
  size_t range_i = 0;
  uint64_t range_done = 0, data_left = 0;
  std::vector<int> fds;
  std::string tmp;
  RangeHash hash;
  bool verified = false, no_room = false;
  std::vector<uint8_t> buf;
  Status failure;
  auto fail = [&](Status s) {
    if (failure.ok()) failure = std::move(s);
  };
  // Whatever way this ends (a protocol error included): no descriptor left open, no temporary
  // folder left behind.
  struct Cleanup {
    std::vector<int>& fds;
    std::string& tmp;
    ~Cleanup() {
      for (int fd : fds) ::close(fd);
      std::error_code ec;
      if (!tmp.empty()) fs::remove_all(tmp, ec);
    }
  } cleanup{fds, tmp};
  static std::atomic<int> counter{0};
  for (;;) {
    Header h;
    SHOAL_RETURN_IF_ERROR(g.Broadcast(&h, sizeof(h), 0));
    if (h.kind == kEnd) break;
    if (h.target != g.rank()) continue;
    if (!need) return Corrupt("rank 0 sent weights this rank did not ask for");
    if (verified || no_room) return Corrupt("rank 0 sent more after this rank's shard");
    if (h.kind == kRanges) {
      if (h.bytes % sizeof(ByteRange) != 0 || h.bytes / sizeof(ByteRange) > kMaxRanges ||
          h.bytes == 0 || !ranges.empty()) {
        return Corrupt("rank 0 announced " + std::to_string(h.bytes) + " bytes of ranges");
      }
      ranges.resize(h.bytes / sizeof(ByteRange));
      SHOAL_RETURN_IF_ERROR(g.Recv(0, ranges.data(), h.bytes));
      SHOAL_RETURN_IF_ERROR(CheckRanges(ranges, o.part_bytes).With("ranges from rank 0"));
      for (const ByteRange& r : ranges) data_left += r.bytes;
      if (data_left > o.room_bytes) {
        return Corrupt("rank 0 sends " + std::to_string(data_left) + " bytes, more than the " +
                       std::to_string(o.room_bytes) + " this rank has room for");
      }
      fail(MakeRoom(o.cache_dir, data_left, o.cache_max_bytes, "").With(o.why));
      tmp = o.cache_dir + "/.tmp-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter.fetch_add(1));
      std::error_code ec;
      fs::remove_all(tmp, ec);
      fs::create_directories(tmp, ec);
      for (int p = 0; p < n_parts && failure.ok(); ++p) {
        const std::string f = tmp + "/" + PartFileName(p, n_parts);
        const int fd = ::open(f.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) fds.push_back(fd);
        if (fd < 0 || ::ftruncate(fd, off_t(o.part_bytes[size_t(p)])) != 0) {
          fail(IoError("cannot create " + f + ": " + std::strerror(errno)));
        }
      }
    } else if (h.kind == kData) {
      if (ranges.empty() || h.bytes == 0 || h.bytes > kChunkBytes || h.bytes > data_left) {
        return Corrupt("rank 0 sent " + std::to_string(h.bytes) + " bytes of data unannounced");
      }
      buf.resize(h.bytes);
      SHOAL_RETURN_IF_ERROR(g.Recv(0, buf.data(), h.bytes));
      data_left -= h.bytes;
      for (size_t at = 0; at < buf.size();) {
        const ByteRange& r = ranges[range_i];
        const size_t take = size_t(std::min<uint64_t>(r.bytes - range_done, buf.size() - at));
        hash.Update(buf.data() + at, take);
        if (failure.ok() && ::pwrite(fds[r.part], buf.data() + at, take,
                                     off_t(r.offset + range_done)) != ssize_t(take)) {
          fail(IoError("writing the shard cache: " + std::string(std::strerror(errno))));
        }
        at += take;
        range_done += take;
        if (range_done == r.bytes) ++range_i, range_done = 0, got.push_back(hash.Take());
      }
    } else if (h.kind == kDigests) {
      if (ranges.empty() || h.bytes != ranges.size() * 16 || data_left != 0) {
        return Corrupt("rank 0 ended the shard early");
      }
      std::vector<uint64_t> want(ranges.size() * 2);
      SHOAL_RETURN_IF_ERROR(g.Recv(0, want.data(), h.bytes));
      for (size_t i = 0; i < ranges.size(); ++i) {
        const gguf::Digest w{want[2 * i], want[2 * i + 1]};
        if (!(w == got[i])) {
          fail(Corrupt("byte range " + std::to_string(i) + " received from rank 0 fails its " +
                       "digest (" + got[i].Short() + ", rank 0 " + w.Short() + ")"));
          break;
        }
      }
      verified = true;
    } else if (h.kind == kNoRoom) {
      fail(ResourceExhausted(o.why + ", and its shard (" + std::to_string(h.bytes) +
                             " bytes) does not fit this node's shard cache (room for " +
                             std::to_string(o.room_bytes) +
                             " bytes: raise --cache-max or free disk space)"));
      no_room = true;
    } else {
      return Corrupt("rank 0 sent transfer message kind " + std::to_string(h.kind));
    }
  }
  if (!need) return Status::Ok();
  if (!verified && !no_room) return Corrupt("rank 0 sent no weights for this rank");
  for (int fd : fds) {
    if (failure.ok() && ::fsync(fd) != 0) fail(IoError("fsync of the shard cache failed"));
    ::close(fd);
  }
  fds.clear();
  if (failure.ok()) {
    Manifest m{o.model_id, o.part_bytes, ranges, got};
    const std::string final_dir = o.cache_dir + "/" + EntryName(o.model_id, ranges);
    fail(CommitEntry(o.cache_dir, tmp, final_dir, m));
    if (failure.ok()) {
      tmp.clear();  // renamed into place
      *path = final_dir + "/" + PartFileName(0, n_parts);
    }
  }
  if (!failure.ok()) *path = failure;
  return Status::Ok();
}

}  // namespace shoal::cluster
