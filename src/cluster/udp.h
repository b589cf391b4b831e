// IPv4 UDP helpers for discovery (POSIX sockets, Linux and macOS): addresses, the multicast
// group, the interfaces that can carry multicast, and a wake-up pipe for a thread in poll().
#pragma once

#include <netinet/in.h>

#include <string>
#include <vector>

#include "base/status.h"
#include "comm/tcp/socket.h"

namespace shoal::cluster::udp {

// "HOST:PORT" (a name or an IPv4 address) to an IPv4 socket address. allow_port0 for binding.
StatusOr<sockaddr_in> Resolve(const std::string& host_port, bool allow_port0 = false);
// A multicast group "GROUP:PORT": GROUP must be an IPv4 address in 224.0.0.0/4, PORT not 0.
StatusOr<sockaddr_in> ParseGroup(const std::string& group_port);
// "10.0.0.3:7788"
std::string Format(const sockaddr_in& a);
std::string FormatHost(const in_addr& a);

// The IPv4 addresses of the interfaces that are up and can carry multicast (loopback last).
std::vector<in_addr> MulticastInterfaces();

// A datagram socket, close-on-exec and non-blocking.
StatusOr<comm::tcp::Fd> OpenSocket();

// A pipe whose read end a poll() loop watches; Wake() makes it readable.
class WakePipe {
 public:
  static StatusOr<WakePipe> Open();
  int read_fd() const { return r_.get(); }
  void Wake();

 private:
  comm::tcp::Fd r_, w_;
};

}  // namespace shoal::cluster::udp
