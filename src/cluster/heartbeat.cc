#include "cluster/heartbeat.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "base/sysinfo.h"
#include "comm/tcp/handshake.h"
#include "comm/tcp/socket.h"

namespace shoal::cluster {
namespace {

constexpr uint32_t kMagic = 0x42484853;  // "SHHB" little-endian
constexpr uint8_t kPing = 1, kPong = 2;
constexpr size_t kTagBytes = 16;
constexpr size_t kHeaderBytes = 8;

class Writer {
 public:
  explicit Writer(uint8_t type) {
    U32(kMagic);
    U8(kHeartbeatVersion);
    U8(type);
    U16(0);
  }
  void U8(uint8_t v) { b_.push_back(v); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void F32(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    U32(u);
  }
  void Str(const std::string& s) {
    const size_t n = std::min(s.size(), kMaxStatusText);
    U8(uint8_t(n));
    b_.insert(b_.end(), s.begin(), s.begin() + std::ptrdiff_t(n));
  }
  std::vector<uint8_t> Seal(const HeartbeatKey& key) {
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, b_.data(), b_.size(), key.bytes.data());
    b_.insert(b_.end(), mac, mac + kTagBytes);
    return std::move(b_);
  }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b_.push_back(uint8_t(v >> (8 * i)));
  }
  std::vector<uint8_t> b_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> d) : d_(d) {}
  bool U8(uint8_t* v) { return Le(v, 1); }
  bool U16(uint16_t* v) { return Le(v, 2); }
  bool U32(uint32_t* v) { return Le(v, 4); }
  bool U64(uint64_t* v) { return Le(v, 8); }
  bool F32(float* v) {
    uint32_t u;
    if (!U32(&u)) return false;
    std::memcpy(v, &u, 4);
    return true;
  }
  bool Str(std::string* s) {
    uint8_t n;
    if (!U8(&n) || n > kMaxStatusText || d_.size() - at_ < n) return false;
    s->assign(reinterpret_cast<const char*>(d_.data() + at_), n);
    at_ += n;
    return true;
  }
  bool done() const { return at_ == d_.size(); }

 private:
  template <typename T>
  bool Le(T* v, size_t n) {
    if (d_.size() - at_ < n) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x |= uint64_t(d_[at_ + i]) << (8 * i);
    at_ += n;
    *v = T(x);
    return true;
  }
  std::span<const uint8_t> d_;
  size_t at_ = 0;
};

// The body of an authentic datagram of `type`, or why not.
StatusOr<std::span<const uint8_t>> Open(const HeartbeatKey& key, std::span<const uint8_t> d,
                                        uint8_t type) {
  if (d.size() < kHeaderBytes + kTagBytes || d.size() > kMaxDatagramBytes) {
    return Corrupt("heartbeat of " + std::to_string(d.size()) + " bytes");
  }
  Reader r(d);
  uint32_t magic;
  uint8_t version, t;
  uint16_t reserved;
  r.U32(&magic);
  r.U8(&version);
  r.U8(&t);
  r.U16(&reserved);
  if (magic != kMagic) return Corrupt("not a heartbeat (bad magic)");
  if (version != kHeartbeatVersion) {
    return Corrupt("heartbeat version " + std::to_string(version) + ", this node speaks " +
                   std::to_string(kHeartbeatVersion));
  }
  const size_t body = d.size() - kTagBytes;
  uint8_t mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, d.data(), body, key.bytes.data());
  if (sodium_memcmp(mac, d.data() + body, kTagBytes) != 0) {
    return Corrupt("heartbeat tag does not verify (another cluster secret, or altered)");
  }
  if (t != type) return Corrupt("unexpected heartbeat type " + std::to_string(t));
  if (reserved != 0) return Corrupt("heartbeat with its reserved field set");
  return d.subspan(kHeaderBytes, body - kHeaderBytes);
}

}  // namespace

HeartbeatKey HeartbeatKey::FromSecret(const std::string& secret) {
  HeartbeatKey k;
  static constexpr char kInfo[] = "shoal heartbeat v1";
  static constexpr uint8_t kSalt[] = {'s', 'h', 'o', 'a', 'l', '-', 'h', 'b'};
  (void)comm::tcp::InitCrypto();
  comm::tcp::HkdfSha256(kSalt, sizeof kSalt, reinterpret_cast<const uint8_t*>(secret.data()),
                        secret.size(), reinterpret_cast<const uint8_t*>(kInfo), sizeof kInfo - 1,
                        k.bytes.data());
  return k;
}

std::vector<uint8_t> EncodePing(const HeartbeatKey& key, const Ping& p) {
  Writer w(kPing);
  w.U64(p.pool);
  w.U64(p.seq);
  w.U64(p.epoch);
  return w.Seal(key);
}

std::vector<uint8_t> EncodePong(const HeartbeatKey& key, const Pong& p) {
  Writer w(kPong);
  w.U64(p.pool);
  w.U64(p.seq);
  const NodeStatus& s = p.status;
  w.U64(s.instance);
  w.U32(s.protocol);
  w.U64(s.uptime_ms);
  w.U64(s.memory_total_bytes);
  w.U64(s.memory_available_bytes);
  w.F32(s.load);
  w.U32(s.threads);
  w.U8(uint8_t(s.activity));
  w.U64(s.job_pool);
  w.U64(s.job_epoch);
  w.Str(s.version);
  w.Str(s.model);
  return w.Seal(key);
}

StatusOr<Ping> DecodePing(const HeartbeatKey& key, std::span<const uint8_t> d) {
  SHOAL_ASSIGN_OR_RETURN(std::span<const uint8_t> body, Open(key, d, kPing));
  Reader r(body);
  Ping p;
  if (!r.U64(&p.pool) || !r.U64(&p.seq) || !r.U64(&p.epoch) || !r.done()) {
    return Corrupt("malformed ping");
  }
  return p;
}

StatusOr<Pong> DecodePong(const HeartbeatKey& key, std::span<const uint8_t> d) {
  SHOAL_ASSIGN_OR_RETURN(std::span<const uint8_t> body, Open(key, d, kPong));
  Reader r(body);
  Pong p;
  NodeStatus& s = p.status;
  uint8_t activity = 0;
  if (!r.U64(&p.pool) || !r.U64(&p.seq) || !r.U64(&s.instance) || !r.U32(&s.protocol) ||
      !r.U64(&s.uptime_ms) || !r.U64(&s.memory_total_bytes) || !r.U64(&s.memory_available_bytes) ||
      !r.F32(&s.load) || !r.U32(&s.threads) || !r.U8(&activity) || !r.U64(&s.job_pool) ||
      !r.U64(&s.job_epoch) || !r.Str(&s.version) || !r.Str(&s.model) || !r.done()) {
    return Corrupt("malformed pong");
  }
  if (activity > uint8_t(NodeActivity::kJob)) return Corrupt("pong with an unknown activity");
  s.activity = NodeActivity(activity);
  if (!(s.load >= 0 && s.load < 1e6)) s.load = 0;  // NaN or nonsense: unknown
  return p;
}

uint64_t MonotonicMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

uint64_t MonotonicUs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

uint64_t RandomU64() {
  uint64_t v = 0;
  (void)comm::tcp::InitCrypto();
  while (v == 0) comm::tcp::RandomBytes(&v, sizeof v);
  return v;
}

void FillHostStatus(NodeStatus* s, uint64_t started_ms) {
  s->uptime_ms = MonotonicMs() - started_ms;
  s->memory_total_bytes = TotalMemoryBytes();
  s->memory_available_bytes = AvailableMemoryBytes();
  double avg[1] = {0};
  s->load = getloadavg(avg, 1) == 1 ? float(avg[0]) : 0.0f;
  s->protocol = comm::tcp::kProtocolVersion;
}

struct HeartbeatResponder::Impl {
  comm::tcp::Fd fd;
  int port = 0;
  HeartbeatKey key;
  std::function<NodeStatus()> status;
  std::function<void(const Ping&)> on_ping;
  std::function<void()> on_tick;
  std::atomic<bool> stop{false};
  std::thread thread;

  void Loop() {
    uint8_t buf[kMaxDatagramBytes + 1];
    while (!stop.load()) {
      if (on_tick) on_tick();
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n =
          recvfrom(fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) continue;
      auto ping = DecodePing(key, std::span<const uint8_t>(buf, size_t(n)));
      if (!ping.ok()) continue;  // not ours: dropped without an answer
      if (on_ping) on_ping(*ping);
      Pong pong;
      pong.pool = ping->pool;
      pong.seq = ping->seq;
      pong.status = status();
      const std::vector<uint8_t> out = EncodePong(key, pong);
      (void)sendto(fd.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from),
                   from_len);
    }
  }
};

StatusOr<std::unique_ptr<HeartbeatResponder>> HeartbeatResponder::Start(
    const std::string& host_port, const std::string& secret, std::function<NodeStatus()> status,
    std::function<void(const Ping&)> on_ping, std::function<void()> on_tick) {
  SHOAL_ASSIGN_OR_RETURN(comm::tcp::HostPort hp, comm::tcp::ParseHostPort(host_port));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const char* host = (hp.host == "0.0.0.0" || hp.host == "*") ? nullptr : hp.host.c_str();
  if (getaddrinfo(host, port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return InvalidArgument("heartbeats: cannot resolve " + host_port);
  }
  auto impl = std::make_unique<Impl>();
  std::string why = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    comm::tcp::Fd fd(socket(a->ai_family, a->ai_socktype, a->ai_protocol));
    if (!fd.valid()) continue;
    (void)fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      why = std::strerror(errno);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    impl->port = bound.ss_family == AF_INET6
                     ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    impl->fd = std::move(fd);
    break;
  }
  freeaddrinfo(res);
  if (!impl->fd.valid()) {
    return IoError("heartbeats: cannot listen on udp " + host_port + ": " + why);
  }
  impl->key = HeartbeatKey::FromSecret(secret);
  impl->status = std::move(status);
  impl->on_ping = std::move(on_ping);
  impl->on_tick = std::move(on_tick);
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->Loop(); });
  return std::unique_ptr<HeartbeatResponder>(new HeartbeatResponder(std::move(impl)));
}

HeartbeatResponder::HeartbeatResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HeartbeatResponder::~HeartbeatResponder() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HeartbeatResponder::port() const { return impl_->port; }

}  // namespace shoal::cluster
