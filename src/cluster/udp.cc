#include "cluster/udp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shoal::cluster::udp {
namespace {

Status SetFlags(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return IoError(std::string("fcntl: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<sockaddr_in> Resolve(const std::string& host_port, bool allow_port0) {
  SHOAL_ASSIGN_OR_RETURN(const comm::tcp::HostPort hp, comm::tcp::ParseHostPort(host_port));
  if (hp.port == 0 && !allow_port0) return InvalidArgument(host_port + ": port 0");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(hp.port);
  if (hp.host.empty() || hp.host == "*") {
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    return a;
  }
  if (::inet_pton(AF_INET, hp.host.c_str(), &a.sin_addr) == 1) return a;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return NotFound(host_port + ": no IPv4 address (" + ::gai_strerror(rc) + ")");
  }
  a.sin_addr = reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr;
  ::freeaddrinfo(res);
  return a;
}

StatusOr<sockaddr_in> ParseGroup(const std::string& group_port) {
  SHOAL_ASSIGN_OR_RETURN(const comm::tcp::HostPort hp, comm::tcp::ParseHostPort(group_port));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(hp.port);
  if (::inet_pton(AF_INET, hp.host.c_str(), &a.sin_addr) != 1 ||
      (ntohl(a.sin_addr.s_addr) >> 28) != 0xE || hp.port == 0) {
    return InvalidArgument("discovery group " + group_port +
                           ": want an IPv4 multicast address (224.0.0.0/4) and a port, e.g. "
                           "239.255.77.77:7788");
  }
  return a;
}

std::string FormatHost(const in_addr& a) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string Format(const sockaddr_in& a) {
  return FormatHost(a.sin_addr) + ":" + std::to_string(ntohs(a.sin_port));
}

std::vector<in_addr> MulticastInterfaces() {
  std::vector<in_addr> out, loopback;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_MULTICAST) == 0) continue;
    const in_addr a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
    ((i->ifa_flags & IFF_LOOPBACK) ? loopback : out).push_back(a);
  }
  ::freeifaddrs(list);
  out.insert(out.end(), loopback.begin(), loopback.end());
  return out;
}

StatusOr<comm::tcp::Fd> OpenSocket() {
  comm::tcp::Fd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  if (!fd.valid()) return IoError(std::string("udp socket: ") + std::strerror(errno));
  SHOAL_RETURN_IF_ERROR(SetFlags(fd.get()));
  return fd;
}

StatusOr<WakePipe> WakePipe::Open() {
  int fds[2];
  if (::pipe(fds) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  WakePipe p;
  p.r_ = comm::tcp::Fd(fds[0]);
  p.w_ = comm::tcp::Fd(fds[1]);
  SHOAL_RETURN_IF_ERROR(SetFlags(fds[0]));
  SHOAL_RETURN_IF_ERROR(SetFlags(fds[1]));
  return p;
}

void WakePipe::Wake() {
  const char c = 1;
  [[maybe_unused]] const ssize_t n = ::write(w_.get(), &c, 1);
}

}  // namespace shoal::cluster::udp
