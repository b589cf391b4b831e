#include "comm/shm/shm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "comm/peer_group.h"
#include "comm/ring.h"

namespace shoal::comm::shm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMagic = 0x53484D53;  // "SHMS"
constexpr uint32_t kVersion = 1;
constexpr size_t kPage = 4096;

// Offset 0 of the segment. Written by rank 0 before `magic` is published (release); `attached`
// and `pids` are updated atomically by each rank as it attaches.
struct Header {
  uint32_t magic;
  uint32_t version;
  uint32_t world;
  uint32_t reserved;
  uint64_t ring_bytes;   // per ordered pair
  uint64_t total_bytes;  // the whole segment
  alignas(64) uint32_t attached;
  alignas(64) int32_t pids[kMaxWorld];  // 0: not attached yet
};

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }
size_t CursorsOffset() { return RoundUp(sizeof(Header), kPage); }
size_t DataOffset(int world) {
  return CursorsOffset() + RoundUp(sizeof(RingCursors) * world * world, kPage);
}
size_t TotalBytes(int world, size_t ring_bytes) {
  return DataOffset(world) + static_cast<size_t>(world) * world * ring_bytes;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// A mapped segment; unmaps (and, for the creator, unlinks) on destruction.
struct Mapping {
  std::string name;
  void* base = MAP_FAILED;
  size_t bytes = 0;
  bool unlink_on_close = false;
  ~Mapping() {
    if (base != MAP_FAILED) munmap(base, bytes);
    if (unlink_on_close) shm_unlink(name.c_str());
  }
  Header* header() const { return static_cast<Header*>(base); }
  void Unlink() {
    if (unlink_on_close) shm_unlink(name.c_str());
    unlink_on_close = false;
  }
};

bool ProcessGone(int32_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
#ifdef __linux__
  // A dead child not yet reaped still answers kill(); its state in /proc says Z.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  if (FILE* f = std::fopen(path, "r")) {
    char buf[512];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* close = std::strrchr(buf, ')');
    if (close != nullptr && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X')) return true;
  }
#endif
  return false;
}

class ShmTransport : public RingTransport {
 public:
  ShmTransport(int rank, int world, std::unique_ptr<Mapping> m)
      : RingTransport(rank, world, Side(rank, world, *m, true), Side(rank, world, *m, false)),
        map_(std::move(m)) {}
  ~ShmTransport() override { Abort(); }  // before the mapping goes

  std::string PeerName(int peer) const override {
    const int32_t pid = SharedAtomic<int32_t>(map_->header()->pids[peer]).load();
    return "rank " + std::to_string(peer) + " (pid " + std::to_string(pid) + ")";
  }
  Status CheckPeer(int peer) override {
    const int32_t pid = SharedAtomic<int32_t>(map_->header()->pids[peer]).load();
    if (ProcessGone(pid)) return Unavailable("its process " + std::to_string(pid) + " is gone");
    return Status::Ok();
  }

 private:
  static std::vector<ByteRing> Side(int rank, int world, const Mapping& m, bool out) {
    auto* base = static_cast<uint8_t*>(m.base);
    auto* cursors = reinterpret_cast<RingCursors*>(base + CursorsOffset());
    const size_t ring_bytes = m.header()->ring_bytes;
    std::vector<ByteRing> v(world);
    for (int p = 0; p < world; ++p) {
      if (p == rank) continue;
      const size_t i =
          out ? static_cast<size_t>(rank) * world + p : static_cast<size_t>(p) * world + rank;
      v[p] = ByteRing(&cursors[i], base + DataOffset(world) + i * ring_bytes, ring_bytes);
    }
    return v;
  }
  std::unique_ptr<Mapping> map_;
};

// Waits until every rank attached; Unavailable at the deadline.
Status WaitAttached(Header* h, int world, Clock::time_point deadline) {
  SharedAtomic<uint32_t> attached(h->attached);
  for (uint64_t i = 0; attached.load(std::memory_order_acquire) < static_cast<uint32_t>(world);
       ++i) {
    if (Clock::now() > deadline) {
      return Unavailable("shm: only " + std::to_string(attached.load()) + " of " +
                         std::to_string(world) + " ranks attached in time");
    }
    IdleBackoff(i);
  }
  return Status::Ok();
}

std::unique_ptr<Group> MakeGroup(int rank, int world, std::unique_ptr<Mapping> m,
                                 const Options& o) {
  auto t = std::make_unique<ShmTransport>(rank, world, std::move(m));
  auto io =
      std::make_unique<StreamPeerIo>(std::move(t), StreamOptions{o.io_timeout_ms, o.busy_poll});
  return std::make_unique<PeerGroup>(std::move(io), "shm");
}

Status CheckName(const std::string& name) {
  if (name.size() < 2 || name.size() > 30 || name[0] != '/' ||
      name.find('/', 1) != std::string::npos) {
    return InvalidArgument("shm: bad segment name '" + name + "' (want /name, at most 30 chars)");
  }
  return Status::Ok();
}

}  // namespace

std::string UniqueName() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "/shoal-%x-%08x", static_cast<unsigned>(getpid()),
                static_cast<unsigned>(rd()));
  return buf;
}

StatusOr<std::unique_ptr<Group>> Create(const std::string& name, int world, const Options& o) {
  SHOAL_RETURN_IF_ERROR(CheckName(name));
  if (world < 1 || world > kMaxWorld) {
    return InvalidArgument("shm: world " + std::to_string(world) + " not in 1.." +
                           std::to_string(kMaxWorld));
  }
  if (o.ring_bytes < 4096 || (o.ring_bytes & (o.ring_bytes - 1)) != 0) {
    return InvalidArgument("shm: ring_bytes must be a power of two >= 4096");
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.io_timeout_ms);
  auto m = std::make_unique<Mapping>();
  m->name = name;
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return IoError(Errno("shm: cannot create " + name));
  m->unlink_on_close = true;
  m->bytes = TotalBytes(world, o.ring_bytes);
  if (ftruncate(fd, static_cast<off_t>(m->bytes)) != 0) {
    const Status st = IoError(Errno("shm: cannot size " + name));
    close(fd);
    return st;
  }
  m->base = mmap(nullptr, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m->base == MAP_FAILED) return IoError(Errno("shm: cannot map " + name));
  Header* h = m->header();
  h->version = kVersion;
  h->world = static_cast<uint32_t>(world);
  h->ring_bytes = o.ring_bytes;
  h->total_bytes = m->bytes;
  h->pids[0] = static_cast<int32_t>(getpid());
  h->attached = 1;
  SharedAtomic<uint32_t>(h->magic).store(kMagic, std::memory_order_release);
  SHOAL_RETURN_IF_ERROR(WaitAttached(h, world, deadline));
  m->Unlink();  // every rank has it mapped: the name is no longer needed
  return MakeGroup(0, world, std::move(m), o);
}

StatusOr<std::unique_ptr<Group>> Attach(const std::string& name, int rank, const Options& o) {
  SHOAL_RETURN_IF_ERROR(CheckName(name));
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.io_timeout_ms);
  auto m = std::make_unique<Mapping>();
  m->name = name;
  int fd = -1;
  struct stat st {};
  // Wait for rank 0 to create, size and publish the segment.
  while (true) {
    if (fd < 0) fd = shm_open(name.c_str(), O_RDWR, 0600);
    if (fd >= 0 && fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) >= sizeof(Header)) {
      if (m->base == MAP_FAILED) {
        m->bytes = sizeof(Header);
        m->base = mmap(nullptr, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m->base == MAP_FAILED) {
          close(fd);
          return IoError(Errno("shm: cannot map " + name));
        }
      }
      if (SharedAtomic<uint32_t>(m->header()->magic).load(std::memory_order_acquire) == kMagic) {
        break;
      }
    }
    if (Clock::now() > deadline) {
      if (fd >= 0) close(fd);
      return Unavailable("shm: segment " + name + " was not created within " +
                         std::to_string(o.io_timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const Header h = *m->header();
  const size_t want = h.world >= 1 && h.world <= kMaxWorld ? TotalBytes(h.world, h.ring_bytes) : 0;
  if (h.version != kVersion || want == 0 || h.ring_bytes < 4096 ||
      (h.ring_bytes & (h.ring_bytes - 1)) != 0 || h.total_bytes != want ||
      static_cast<size_t>(st.st_size) < want) {
    close(fd);
    return Corrupt("shm: segment " + name + " has a bad header (version " +
                   std::to_string(h.version) + ", world " + std::to_string(h.world) + ")");
  }
  if (rank < 1 || rank >= static_cast<int>(h.world)) {
    close(fd);
    return InvalidArgument("shm: rank " + std::to_string(rank) + " not in 1.." +
                           std::to_string(h.world - 1));
  }
  munmap(m->base, m->bytes);
  m->bytes = want;
  m->base = mmap(nullptr, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m->base == MAP_FAILED) return IoError(Errno("shm: cannot map " + name));
  int32_t expected = 0;
  if (!SharedAtomic<int32_t>(m->header()->pids[rank])
           .compare_exchange_strong(expected, static_cast<int32_t>(getpid()))) {
    return InvalidArgument("shm: rank " + std::to_string(rank) + " already attached (pid " +
                           std::to_string(expected) + ")");
  }
  SharedAtomic<uint32_t>(m->header()->attached).fetch_add(1, std::memory_order_acq_rel);
  SHOAL_RETURN_IF_ERROR(WaitAttached(m->header(), static_cast<int>(h.world), deadline));
  return MakeGroup(rank, static_cast<int>(h.world), std::move(m), o);
}

}  // namespace shoal::comm::shm
