#include "cluster/membership.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "comm/tcp/socket.h"

namespace shoal::cluster {

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kUnknown:
      return "unknown";
    case NodeState::kAlive:
      return "alive";
    case NodeState::kSlow:
      return "slow";
    case NodeState::kLost:
      return "lost";
  }
  return "?";
}

namespace {

struct Node {
  std::string address;
  comm::tcp::HostPort hp;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;  // 0: not resolved yet
  NodeState state = NodeState::kUnknown;
  std::string reason;
  bool draining = false;
  bool heard = false;
  NodeStatus status;
  double rtt_ms = 0;
  uint64_t last_heard_ms = 0, changed_ms = 0, added_ms = 0;
  std::deque<std::pair<uint64_t, uint64_t>> sent;  // (seq, us) of the last pings
};

bool Resolve(Node& n) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(n.hp.port);
  if (getaddrinfo(n.hp.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  std::memcpy(&n.addr, res->ai_addr, res->ai_addrlen);
  n.addr_len = socklen_t(res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

std::string Seconds(uint64_t ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", double(ms) / 1000.0);
  return b;
}

}  // namespace

struct Membership::Impl {
  MembershipOptions opt;
  HeartbeatKey key;
  std::function<void(const MembershipEvent&)> on_event;
  uint64_t pool = RandomU64();
  comm::tcp::Fd fd4, fd6;
  mutable std::mutex mu;
  std::vector<Node> nodes;  // guarded by mu
  uint64_t epoch = 0;       // guarded by mu
  uint64_t seq = 0;
  std::atomic<bool> stop{false};
  std::thread thread;

  // Under mu; events go out after it is released.
  void Change(Node& n, NodeState to, std::string reason, bool restarted,
              std::vector<MembershipEvent>* out) {
    MembershipEvent e{n.address, n.state, to, restarted, std::move(reason)};
    n.state = to;
    n.reason = e.reason;
    n.changed_ms = MonotonicMs();
    out->push_back(std::move(e));
  }

  void SendPings() {
    std::lock_guard<std::mutex> l(mu);
    for (Node& n : nodes) {
      if (n.addr_len == 0 && !Resolve(n)) continue;
      Ping p{pool, ++seq, epoch};
      const uint64_t sent_us = MonotonicUs();
      const std::vector<uint8_t> d = EncodePing(key, p);
      const int fd = n.addr.ss_family == AF_INET6 ? fd6.get() : fd4.get();
      if (fd < 0) continue;
      (void)sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&n.addr),
                   n.addr_len);
      n.sent.emplace_back(p.seq, sent_us);
      while (n.sent.size() > 64) n.sent.pop_front();
    }
  }

  void Receive(int fd, std::vector<MembershipEvent>* events) {
    uint8_t buf[kMaxDatagramBytes + 1];
    for (;;) {
      const ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0) return;
      auto pong = DecodePong(key, std::span<const uint8_t>(buf, size_t(r)));
      if (!pong.ok() || pong->pool != pool) continue;
      std::lock_guard<std::mutex> l(mu);
      const uint64_t now = MonotonicMs();
      for (Node& n : nodes) {
        auto it = std::find_if(n.sent.begin(), n.sent.end(),
                               [&](const auto& s) { return s.first == pong->seq; });
        if (it == n.sent.end()) continue;
        n.rtt_ms = double(MonotonicUs() - it->second) / 1000.0;
        n.sent.erase(n.sent.begin(), it + 1);  // each ping answered once; older ones are late
        const bool restarted = n.heard && n.status.instance != pong->status.instance;
        n.heard = true;
        n.last_heard_ms = now;
        n.status = pong->status;
        if (restarted) {
          Change(n, NodeState::kAlive, "restarted (a new process at this address)", true, events);
        } else if (n.state == NodeState::kUnknown) {
          Change(n, NodeState::kAlive, "joined (shoal " + n.status.version + ")", false, events);
        } else if (n.state == NodeState::kLost) {
          Change(n, NodeState::kAlive, "rejoined", false, events);
        } else if (n.state == NodeState::kSlow) {
          Change(n, NodeState::kAlive, "answering again", false, events);
        }
        break;
      }
    }
  }

  void Judge(std::vector<MembershipEvent>* events) {
    std::lock_guard<std::mutex> l(mu);
    const uint64_t now = MonotonicMs();
    for (Node& n : nodes) {
      if (!n.heard) continue;
      const uint64_t silent = now - n.last_heard_ms;
      if (silent > uint64_t(opt.dead_after_ms) && n.state != NodeState::kLost) {
        Change(n, NodeState::kLost, "no heartbeat for " + Seconds(silent), false, events);
      } else if (silent > uint64_t(opt.slow_after_ms) && n.state == NodeState::kAlive) {
        Change(n, NodeState::kSlow, "no heartbeat for " + Seconds(silent), false, events);
      }
    }
  }

  void Loop() {
    uint64_t next = 0;
    while (!stop.load()) {
      const uint64_t now = MonotonicMs();
      if (now >= next) {
        SendPings();
        next = now + uint64_t(opt.interval_ms);
      }
      pollfd p[2] = {{fd4.get(), POLLIN, 0}, {fd6.get(), POLLIN, 0}};
      const int wait = int(std::min<uint64_t>(next - std::min(next, MonotonicMs()), 50));
      (void)poll(p, 2, std::max(wait, 1));
      std::vector<MembershipEvent> events;
      if (fd4.valid()) Receive(fd4.get(), &events);
      if (fd6.valid()) Receive(fd6.get(), &events);
      Judge(&events);
      for (const MembershipEvent& e : events) {
        std::fprintf(stderr, "shoal: node %s %s: %s\n", e.address.c_str(), NodeStateName(e.to),
                     e.reason.c_str());
        if (on_event) on_event(e);
      }
    }
  }
};

StatusOr<std::unique_ptr<Membership>> Membership::Start(
    const std::string& secret, MembershipOptions options,
    std::function<void(const MembershipEvent&)> on_event) {
  if (options.interval_ms < 1 || options.slow_after_ms < options.interval_ms ||
      options.dead_after_ms < options.slow_after_ms) {
    return InvalidArgument("heartbeats: want interval <= slow-after <= dead-after (ms)");
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->key = HeartbeatKey::FromSecret(secret);
  impl->on_event = std::move(on_event);
  impl->fd4 = comm::tcp::Fd(socket(AF_INET, SOCK_DGRAM, 0));
  impl->fd6 = comm::tcp::Fd(socket(AF_INET6, SOCK_DGRAM, 0));
  if (!impl->fd4.valid() && !impl->fd6.valid()) {
    return IoError(std::string("heartbeats: no udp socket: ") + std::strerror(errno));
  }
  for (comm::tcp::Fd* f : {&impl->fd4, &impl->fd6}) {
    if (f->valid()) (void)fcntl(f->get(), F_SETFD, FD_CLOEXEC);
  }
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->Loop(); });
  return std::unique_ptr<Membership>(new Membership(std::move(impl)));
}

Membership::Membership(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Membership::~Membership() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status Membership::Add(const std::string& address) {
  SHOAL_ASSIGN_OR_RETURN(comm::tcp::HostPort hp, comm::tcp::ParseHostPort(address));
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const Node& n : impl_->nodes) {
    if (n.address == address) return Status::Ok();
  }
  Node n;
  n.address = address;
  n.hp = hp;
  n.added_ms = n.changed_ms = MonotonicMs();
  n.reason = "not heard yet";
  Resolve(n);
  impl_->nodes.push_back(std::move(n));
  return Status::Ok();
}

void Membership::SetEpoch(uint64_t epoch) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->epoch = epoch;
}

uint64_t Membership::epoch() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->epoch;
}

uint64_t Membership::pool_id() const { return impl_->pool; }

const MembershipOptions& Membership::options() const { return impl_->opt; }

Status Membership::SetDraining(const std::string& address, bool draining) {
  std::lock_guard<std::mutex> l(impl_->mu);
  for (Node& n : impl_->nodes) {
    if (n.address == address) {
      if (n.draining != draining) {
        std::fprintf(stderr, "shoal: node %s %s\n", address.c_str(),
                     draining ? "draining (asked by the operator)" : "no longer draining");
      }
      n.draining = draining;
      return Status::Ok();
    }
  }
  return NotFound("no node " + address + " in this pool");
}

std::vector<NodeView> Membership::Snapshot() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  const uint64_t now = MonotonicMs();
  std::vector<NodeView> out;
  for (const Node& n : impl_->nodes) {
    NodeView v;
    v.address = n.address;
    v.state = n.state;
    v.reason = n.reason;
    v.draining = n.draining;
    v.heard = n.heard;
    v.status = n.status;
    v.rtt_ms = n.rtt_ms;
    v.silent_ms = n.heard ? now - n.last_heard_ms : now - n.added_ms;
    v.state_age_ms = now - n.changed_ms;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace shoal::cluster
