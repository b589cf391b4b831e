#include "comm/tcp/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shoal::comm::tcp {

int MsLeft(Deadline d) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

StatusOr<HostPort> ParseHostPort(const std::string& s) {
  HostPort hp;
  std::string port;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return InvalidArgument("bad address '" + s + "' (want [v6addr]:port)");
    }
    hp.host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) {
      return InvalidArgument("bad address '" + s + "' (want host:port)");
    }
    hp.host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (hp.host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return InvalidArgument("bad address '" + s + "' (want host:port, port 0..65535)");
  }
  hp.port = static_cast<uint16_t>(std::stoi(port));
  return hp;
}

std::string FormatHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Status SetSocketOptions(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    return IoError(std::string("fcntl: ") + std::strerror(errno));
  }
  int one = 1;
#ifdef SO_NOSIGPIPE
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on listeners
  // Keepalive: a peer whose machine vanished (power, cable) is noticed even while a worker waits
  // with no I/O limit: after kKeepIdleS quiet seconds, kKeepCount probes kKeepIntervalS apart.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int idle = kKeepIdleS, interval = kKeepIntervalS, count = kKeepCount;
#if defined(TCP_KEEPIDLE)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
#elif defined(TCP_KEEPALIVE)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPALIVE, &idle, sizeof idle);  // macOS
#endif
#if defined(TCP_KEEPINTVL)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
#endif
#if defined(TCP_KEEPCNT)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#endif
  (void)idle, (void)interval, (void)count;
  return Status::Ok();
}

StatusOr<Fd> ConnectOnce(const HostPort& hp, Deadline deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const int gai = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return Unavailable("cannot resolve '" + hp.host + "': " + gai_strerror(gai));
  std::string last = "no address";
  Fd result;
  for (addrinfo* a = res; a != nullptr && !result.valid(); a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype, a->ai_protocol));
    if (!fd.valid() || !SetSocketOptions(fd.get()).ok()) {
      last = std::strerror(errno);
      continue;
    }
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = std::strerror(errno);
        continue;
      }
      pollfd p{fd.get(), POLLOUT, 0};
      const int pr = poll(&p, 1, MsLeft(deadline));
      int err = 0;
      socklen_t len = sizeof err;
      if (pr <= 0) {
        last = "connect timed out";
        continue;
      }
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        last = std::strerror(err != 0 ? err : errno);
        continue;
      }
    }
    result = std::move(fd);
  }
  freeaddrinfo(res);
  if (!result.valid()) return Unavailable("cannot connect: " + last);
  return result;
}

std::string RemoteAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  return FormatHostPort(host, port);
}

namespace {
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;                                      // SO_NOSIGPIPE is set on the socket instead (macOS)
#endif
}  // namespace

Status WriteFull(int fd, const void* data, size_t bytes, Deadline deadline) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = send(fd, p, bytes, kSendFlags);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return Unavailable(std::string("send failed: ") + std::strerror(errno));
    }
    pollfd pfd{fd, POLLOUT, 0};
    if (poll(&pfd, 1, MsLeft(deadline)) == 0) return Unavailable("timed out sending");
  }
  return Status::Ok();
}

Status ReadFull(int fd, void* data, size_t bytes, Deadline deadline) {
  uint8_t* p = static_cast<uint8_t*>(data);
  const size_t want = bytes;
  while (bytes > 0) {
    const ssize_t n = recv(fd, p, bytes, 0);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      return Unavailable("connection closed after " + std::to_string(want - bytes) + " of " +
                         std::to_string(want) + " bytes");
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return Unavailable(std::string("receive failed: ") + std::strerror(errno));
    }
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, MsLeft(deadline)) == 0) return Unavailable("timed out waiting for data");
  }
  return Status::Ok();
}

}  // namespace shoal::comm::tcp
