// The worker's side of discovery: a thread that sends one tagged announcement (discovery.h) every
// interval_ms to a multicast group (TTL 1 by default: the local network only) and to any unicast
// targets (networks without multicast, tests). It stops, joins its thread and closes its socket
// in its destructor.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "cluster/discovery.h"
#include "comm/tcp/socket.h"

namespace shoal::cluster {

struct AnnouncerOptions {
  std::string group = kDefaultDiscoveryGroup;  // GROUP:PORT; "": unicast targets only
  std::vector<std::string> targets;            // unicast HOST:PORT (IPv4)
  std::string interface;  // IPv4 address of the interface for multicast ("": the route's, else
                          // the first interface that can carry multicast)
  int ttl = 1;
  int interval_ms = 1000;
  std::string secret;  // the cluster secret (comm::tcp::CheckSecret)
  // What to say: host ("" or a wildcard: the source address), port, protocol, memory_bytes,
  // version, model_id. instance and counter are the announcer's own.
  Announcement what;
};

class Announcer {
 public:
  // InvalidArgument for a bad group, target, field or secret; IoError if no socket.
  static StatusOr<std::unique_ptr<Announcer>> Start(const AnnouncerOptions& o);
  ~Announcer();
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  uint64_t instance() const { return instance_; }
  uint64_t sent() const { return sent_.load(); }      // datagrams that left
  uint64_t failed() const { return failed_.load(); }  // sends that failed (the last is logged)

 private:
  Announcer() = default;
  void Loop();
  void SendAll();
  // Sends one datagram; logs a failure once until it changes (last_error: that destination's).
  bool SendOne(const sockaddr_in& to, bool multicast, std::string* last_error);

  AnnouncerOptions o_;
  DiscoveryKey key_;
  uint64_t instance_ = 0;
  uint64_t counter_ = 0;
  comm::tcp::Fd fd_;
  std::vector<sockaddr_in> targets_;
  bool has_group_ = false;
  sockaddr_in group_{};
  bool fell_back_ = false;                // multicast moved to the first multicast interface
  std::vector<std::string> last_errors_;  // [0]: the group, [1 + i]: targets_[i]
  std::atomic<uint64_t> sent_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace shoal::cluster
