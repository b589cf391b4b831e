// Membership: rank 0's view of its nodes' health, from heartbeats (cluster/heartbeat.h).
//
// Every interval_ms (default 200) one thread pings every node it knows; a node whose last
// authentic pong is older than slow_after_ms (1 s) is slow (suspect: a busy machine or a
// congested link gets that long before anything happens), older than dead_after_ms (2 s) lost.
// A lost node that answers again has rejoined; a node answering with another instance id was
// restarted (its old process, and any job it was in, is gone). Draining is set by the operator.
// Each change is logged on stderr with its reason and handed to `on_event` (on the membership
// thread: it must be quick, e.g. abort a group, wake the scheduler).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/heartbeat.h"

namespace shoal::cluster {

enum class NodeState : uint8_t { kUnknown, kAlive, kSlow, kLost };
const char* NodeStateName(NodeState s);  // "unknown", "alive", "slow", "lost"

struct MembershipOptions {
  int interval_ms = 200;
  int slow_after_ms = 1000;
  int dead_after_ms = 2000;
};

struct NodeView {
  std::string address;  // HOST:PORT of its listener (the heartbeat goes to that UDP port)
  NodeState state = NodeState::kUnknown;
  std::string reason;  // of the last change
  bool draining = false;
  bool heard = false;  // answered at least once
  NodeStatus status;   // from its last pong
  double rtt_ms = 0;   // of its last pong
  uint64_t silent_ms = 0;
  uint64_t state_age_ms = 0;  // since the last change
};

struct MembershipEvent {
  std::string address;
  NodeState from = NodeState::kUnknown, to = NodeState::kUnknown;
  bool restarted = false;  // a new instance at that address
  std::string reason;
};

class Membership {
 public:
  static StatusOr<std::unique_ptr<Membership>> Start(
      const std::string& secret, MembershipOptions options,
      std::function<void(const MembershipEvent&)> on_event = {});
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Starts watching a node (idempotent). InvalidArgument on a malformed address; a name that
  // does not resolve yet is retried.
  Status Add(const std::string& address);
  // The job the pool runs now; pings carry it (a node in an older job of this pool leaves it).
  void SetEpoch(uint64_t epoch);
  uint64_t epoch() const;
  uint64_t pool_id() const;
  // NotFound for an address not watched.
  Status SetDraining(const std::string& address, bool draining);
  std::vector<NodeView> Snapshot() const;
  const MembershipOptions& options() const;

  struct Impl;

 private:
  explicit Membership(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::cluster
