#include "cluster/discoverer.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "comm/tcp/handshake.h"

namespace shoal::cluster {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxNodes = 1024;  // authenticated nodes kept at once

Status Opt(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return IoError(std::string("discovery: ") + what + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Joins the group on every interface that carries multicast; at least one must take it.
Status JoinGroup(int fd, const sockaddr_in& group) {
  std::vector<in_addr> ifs = udp::MulticastInterfaces();
  if (ifs.empty()) ifs.push_back(in_addr{htonl(INADDR_ANY)});
  int joined = 0;
  std::string last;
  for (const in_addr& i : ifs) {
    ip_mreq m{};
    m.imr_multiaddr = group.sin_addr;
    m.imr_interface = i;
    if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0 || errno == EADDRINUSE) {
      ++joined;
    } else {
      last = udp::FormatHost(i) + ": " + std::strerror(errno);
    }
  }
  if (joined == 0) {
    return IoError("discovery: cannot join " + udp::Format(group) + " on any interface (" + last +
                   ")");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Discoverer>> Discoverer::Start(const DiscovererOptions& o) {
  SHOAL_RETURN_IF_ERROR(comm::tcp::CheckSecret(o.secret));
  if (o.expire_ms < 10) {
    return InvalidArgument("discovery: expire_ms " + std::to_string(o.expire_ms) + " (>= 10)");
  }
  if (o.group.empty() && o.bind.empty()) {
    return InvalidArgument("discovery: no group and no address to listen on");
  }
  std::unique_ptr<Discoverer> d(new Discoverer());
  d->o_ = o;
  d->key_ = DeriveDiscoveryKey(o.secret);
  sockaddr_in group{};
  if (!o.group.empty()) {
    SHOAL_ASSIGN_OR_RETURN(group, udp::ParseGroup(o.group));
  }
  sockaddr_in bind_to{};
  if (!o.bind.empty()) {
    SHOAL_ASSIGN_OR_RETURN(bind_to, udp::Resolve(o.bind, /*allow_port0=*/true));
  } else {
    bind_to.sin_family = AF_INET;
    bind_to.sin_addr.s_addr = htonl(INADDR_ANY);
    bind_to.sin_port = group.sin_port;
  }
  SHOAL_ASSIGN_OR_RETURN(d->fd_, udp::OpenSocket());
  const int fd = d->fd_.get();
  // Several discoverers on one machine may listen on the group's port together, each getting
  // every multicast datagram: SO_REUSEADDR on Linux, SO_REUSEPORT on the BSDs and macOS (on Linux
  // that one would share unicast datagrams out between the sockets instead).
  SHOAL_RETURN_IF_ERROR(Opt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"));
#if defined(SO_REUSEPORT) && !defined(__linux__)
  SHOAL_RETURN_IF_ERROR(Opt(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT"));
#endif
#ifdef IP_MULTICAST_ALL
  // Linux: only the groups this socket joined, not every group joined on the machine.
  SHOAL_RETURN_IF_ERROR(Opt(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL"));
#endif
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    return IoError("discovery: cannot listen on " + udp::Format(bind_to) + ": " +
                   std::strerror(errno));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return IoError(std::string("discovery: getsockname: ") + std::strerror(errno));
  }
  d->port_ = ntohs(bound.sin_port);
  if (!o.group.empty()) SHOAL_RETURN_IF_ERROR(JoinGroup(fd, group));
  SHOAL_ASSIGN_OR_RETURN(d->wake_, udp::WakePipe::Open());
  d->thread_ = std::thread([p = d.get()] { p->Loop(); });
  return d;
}

Discoverer::~Discoverer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.Wake();
  if (thread_.joinable()) thread_.join();
}

std::vector<FoundNode> Discoverer::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  std::vector<FoundNode> out;
  for (const FoundNode& n : nodes_) {
    if (now - n.last_seen <= std::chrono::milliseconds(o_.expire_ms)) out.push_back(n);
  }
  std::sort(out.begin(), out.end(),
            [](const FoundNode& a, const FoundNode& b) { return a.address < b.address; });
  return out;
}

Discoverer::Counts Discoverer::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void Discoverer::Loop() {
  const int tick_ms = std::min(o_.expire_ms, 1000);
  uint8_t buf[kMaxAnnounceBytes + 1];  // one more: a longer datagram shows as too long
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      Expire(Clock::now());
    }
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {wake_.read_fd(), POLLIN, 0}};
    const int rc = ::poll(fds, 2, tick_ms);
    if (rc < 0 && errno != EINTR) return;
    if (rc <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    for (int i = 0; i < 64; ++i) {  // drain what is queued, then look at the wake pipe again
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      Receive(buf, size_t(n), from);
    }
  }
}

void Discoverer::Expire(Clock::time_point now) {
  const auto limit = std::chrono::milliseconds(o_.expire_ms);
  std::erase_if(nodes_, [&](const FoundNode& n) { return now - n.last_seen > limit; });
}

void Discoverer::Receive(const uint8_t* data, size_t bytes, const sockaddr_in& from) {
  auto drop = [&](const Status& why) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.dropped;
    counts_.last_drop = udp::Format(from) + ": " + why.message();
  };
  auto a = ParseAnnouncement(data, bytes, key_);
  if (!a.ok()) return drop(a.status());
  if (Status st = replay_.Accept(a->instance, a->counter); !st.ok()) return drop(st);
  const std::string host = a->host.empty() ? udp::FormatHost(from.sin_addr) : a->host;
  const std::string address = comm::tcp::FormatHostPort(host, a->port);
  const Clock::time_point now = Clock::now();
  FoundNode event;
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.accepted;
    Expire(now);
    auto self = std::find_if(nodes_.begin(), nodes_.end(),
                             [&](const FoundNode& n) { return n.instance == a->instance; });
    auto other = std::find_if(nodes_.begin(), nodes_.end(), [&](const FoundNode& n) {
      return n.address == address && n.instance != a->instance;
    });
    uint64_t replaced = 0;
    if (other != nodes_.end()) {  // a new instance at a known address: the old one is gone
      replaced = other->instance;
      replay_.Retire(replaced);
      nodes_.erase(other);
      self = std::find_if(nodes_.begin(), nodes_.end(),
                          [&](const FoundNode& n) { return n.instance == a->instance; });
    }
    if (self == nodes_.end()) {
      if (nodes_.size() >= kMaxNodes) {
        ++counts_.dropped;
        counts_.last_drop = udp::Format(from) + ": too many nodes";
        return;
      }
      nodes_.push_back(FoundNode{});
      self = nodes_.end() - 1;
      self->first_seen = now;
      notify = true;
    }
    notify = notify || self->address != address;
    self->address = address;
    self->instance = a->instance;
    self->version = a->version;
    self->protocol = a->protocol;
    self->model_id = a->model_id;
    self->memory_bytes = a->memory_bytes;
    self->last_seen = now;
    self->replaced = replaced;
    event = *self;
  }
  if (notify && o_.on_node) o_.on_node(event);
}

}  // namespace shoal::cluster
