// POSIX socket helpers for the tcp backend: addresses, non-blocking connect with a deadline, and
// whole-buffer reads/writes with a deadline (used by the handshake; the data path is in
// transport.cc).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace shoal::comm::tcp {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline After(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }
// Milliseconds left before the deadline, at least 0.
int MsLeft(Deadline d);

// An owned file descriptor; closes on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct HostPort {
  std::string host;  // name, IPv4 or IPv6 (without brackets)
  uint16_t port = 0;
};

// "host:port", "[v6addr]:port"; the port is required (0 is allowed for binding).
StatusOr<HostPort> ParseHostPort(const std::string& s);
std::string FormatHostPort(const std::string& host, uint16_t port);

// TCP keepalive on every connection: probes after this many idle seconds, this many probes this
// many seconds apart, so a vanished peer is reported after about 30 s even with no I/O limit.
inline constexpr int kKeepIdleS = 15;
inline constexpr int kKeepIntervalS = 5;
inline constexpr int kKeepCount = 3;

// Non-blocking, close-on-exec, no SIGPIPE, TCP_NODELAY, keepalive.
Status SetSocketOptions(int fd);

// One connection attempt, to the first address that answers, before the deadline.
StatusOr<Fd> ConnectOnce(const HostPort& hp, Deadline deadline);

// The remote address of a connected socket ("10.0.0.3:51234").
std::string RemoteAddress(int fd);

// Whole-buffer I/O on a non-blocking socket, waiting with poll() up to the deadline.
// Unavailable on EOF/reset/timeout (the message says which).
Status WriteFull(int fd, const void* data, size_t bytes, Deadline deadline);
Status ReadFull(int fd, void* data, size_t bytes, Deadline deadline);

}  // namespace shoal::comm::tcp
