// rank 0's side of discovery: a thread bound to the group's port and joined to the group (on
// every interface that carries multicast) that keeps the workers whose announcements carry a
// valid tag (discovery.h) and a fresh counter. Nodes not heard for expire_ms leave the snapshot.
// It stops, joins its thread and closes its sockets in its destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "cluster/discovery.h"
#include "cluster/udp.h"
#include "comm/tcp/socket.h"

namespace shoal::cluster {

struct FoundNode {
  std::string address;  // the worker's TCP HOST:PORT (its host, or the datagram's source)
  uint64_t instance = 0;
  std::string version;  // shoal's version string
  uint16_t protocol = 0;
  std::string model_id;  // lowercase hex, "" if none
  uint64_t memory_bytes = 0;
  std::chrono::steady_clock::time_point first_seen, last_seen;
  uint64_t replaced = 0;  // the instance this one replaced at the same address (0: none)
};

struct DiscovererOptions {
  std::string group = kDefaultDiscoveryGroup;  // GROUP:PORT to join; "": unicast only
  // The address to bind: "" binds 0.0.0.0 on the group's port; "127.0.0.1:0" (tests) any port.
  std::string bind;
  std::string secret;  // the cluster secret
  int expire_ms = 5000;
  // Called on the discoverer's thread (no lock held) for a node that was not in the snapshot, or
  // that is at a new address, or a new instance at a known address (a restarted worker). It may
  // call Snapshot(); it must not destroy the discoverer.
  std::function<void(const FoundNode&)> on_node;
};

class Discoverer {
 public:
  // InvalidArgument for a bad group, bind address or secret; IoError if the socket cannot be
  // bound or the group joined on any interface.
  static StatusOr<std::unique_ptr<Discoverer>> Start(const DiscovererOptions& o);
  ~Discoverer();
  Discoverer(const Discoverer&) = delete;
  Discoverer& operator=(const Discoverer&) = delete;

  // The nodes heard within expire_ms, by address.
  std::vector<FoundNode> Snapshot() const;
  uint16_t port() const { return port_; }  // the bound port

  struct Counts {
    uint64_t accepted = 0;
    uint64_t dropped = 0;
    std::string last_drop;  // why the last dropped datagram was dropped, and its source
  };
  Counts counts() const;

 private:
  Discoverer() = default;
  void Loop();
  void Receive(const uint8_t* data, size_t bytes, const sockaddr_in& from);
  void Expire(std::chrono::steady_clock::time_point now);  // mu_ held

  DiscovererOptions o_;
  DiscoveryKey key_;
  comm::tcp::Fd fd_;
  udp::WakePipe wake_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<FoundNode> nodes_;  // mu_
  ReplayGuard replay_;            // the thread's own
  Counts counts_;                 // mu_
  bool stop_ = false;             // mu_
  std::thread thread_;
};

}  // namespace shoal::cluster
