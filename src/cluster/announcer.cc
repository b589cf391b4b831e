#include "cluster/announcer.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "cluster/udp.h"
#include "comm/tcp/handshake.h"

namespace shoal::cluster {

StatusOr<std::unique_ptr<Announcer>> Announcer::Start(const AnnouncerOptions& o) {
  SHOAL_RETURN_IF_ERROR(comm::tcp::CheckSecret(o.secret));
  SHOAL_RETURN_IF_ERROR(comm::tcp::InitCrypto());
  if (o.interval_ms < 10 || o.interval_ms > 3600 * 1000) {
    return InvalidArgument("discovery: announce interval " + std::to_string(o.interval_ms) +
                           " ms (10 .. 3600000)");
  }
  if (o.ttl < 1 || o.ttl > 255) {
    return InvalidArgument("discovery: multicast TTL " + std::to_string(o.ttl) + " (1 .. 255)");
  }
  if (o.group.empty() && o.targets.empty()) {
    return InvalidArgument("discovery: nothing to announce to (no group, no target)");
  }
  std::unique_ptr<Announcer> a(new Announcer());
  a->o_ = o;
  if (IsWildcardHost(a->o_.what.host)) a->o_.what.host.clear();
  a->key_ = DeriveDiscoveryKey(o.secret);
  while (a->instance_ == 0) comm::tcp::RandomBytes(&a->instance_, sizeof a->instance_);
  // Every field checked once, before the thread starts.
  Announcement probe = a->o_.what;
  probe.instance = a->instance_;
  SHOAL_RETURN_IF_ERROR(EncodeAnnouncement(probe, a->key_).status());
  for (const std::string& t : o.targets) {
    SHOAL_ASSIGN_OR_RETURN(sockaddr_in to, udp::Resolve(t));
    a->targets_.push_back(to);
  }
  a->last_errors_.resize(a->targets_.size() + 1);
  SHOAL_ASSIGN_OR_RETURN(a->fd_, udp::OpenSocket());
  const int fd = a->fd_.get();
  if (!o.group.empty()) {
    SHOAL_ASSIGN_OR_RETURN(a->group_, udp::ParseGroup(o.group));
    a->has_group_ = true;
    const unsigned char ttl = static_cast<unsigned char>(o.ttl);
    const unsigned char loop = 1;  // a discoverer on this machine hears it too
    if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0 ||
        ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) {
      return IoError(std::string("discovery: multicast options: ") + std::strerror(errno));
    }
    if (!o.interface.empty()) {
      in_addr ifa{};
      if (::inet_pton(AF_INET, o.interface.c_str(), &ifa) != 1) {
        return InvalidArgument("discovery: interface " + o.interface + " is not an IPv4 address");
      }
      if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa) != 0) {
        return InvalidArgument("discovery: interface " + o.interface + ": " + std::strerror(errno));
      }
    }
  }
  a->thread_ = std::thread([p = a.get()] { p->Loop(); });
  return a;
}

Announcer::~Announcer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Announcer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    SendAll();
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(o_.interval_ms), [this] { return stop_; });
  }
}

void Announcer::SendAll() {
  if (has_group_) SendOne(group_, true, &last_errors_[0]);
  for (size_t i = 0; i < targets_.size(); ++i) SendOne(targets_[i], false, &last_errors_[i + 1]);
}

bool Announcer::SendOne(const sockaddr_in& to, bool multicast, std::string* last_error) {
  Announcement a = o_.what;
  a.instance = instance_;
  a.counter = ++counter_;  // every datagram its own counter, so none is dropped as a replay
  auto bytes = EncodeAnnouncement(a, key_);
  if (!bytes.ok()) return false;  // checked in Start
  for (int attempt = 0; attempt < 2; ++attempt) {
    const ssize_t n = ::sendto(fd_.get(), bytes->data(), bytes->size(), 0,
                               reinterpret_cast<const sockaddr*>(&to), sizeof to);
    if (n == ssize_t(bytes->size())) {
      ++sent_;
      if (!last_error->empty()) {
        std::fprintf(stderr, "shoal: discovery: announcing to %s again\n", udp::Format(to).c_str());
        last_error->clear();
      }
      return true;
    }
    const int err = errno;
    // No multicast route (a host without a default route): send on the first interface that
    // carries multicast instead, once.
    if (multicast && !fell_back_ && o_.interface.empty() &&
        (err == ENETUNREACH || err == ENODEV || err == EHOSTUNREACH)) {
      fell_back_ = true;
      const std::vector<in_addr> ifs = udp::MulticastInterfaces();
      if (!ifs.empty() &&
          ::setsockopt(fd_.get(), IPPROTO_IP, IP_MULTICAST_IF, &ifs[0], sizeof ifs[0]) == 0) {
        std::fprintf(stderr, "shoal: discovery: no route for %s; announcing on interface %s\n",
                     udp::Format(to).c_str(), udp::FormatHost(ifs[0]).c_str());
        continue;
      }
    }
    ++failed_;
    const std::string e = "cannot announce to " + udp::Format(to) + ": " + std::strerror(err);
    if (e != *last_error) std::fprintf(stderr, "shoal: discovery: %s\n", e.c_str());
    *last_error = e;
    return false;
  }
  return false;
}

}  // namespace shoal::cluster
