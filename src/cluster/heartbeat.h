// Heartbeats: the pool's control path, apart from the data path (docs/wire-protocol.md,
// "Heartbeats"). Rank 0 sends each node a Ping over UDP, to the port number of the node's TCP
// listener, every few hundred milliseconds; the node's responder thread (never the threads that
// compute) answers with a Pong that carries its status. So an idle pool is never taken for a dead
// one, a long step never delays a heartbeat, and a node that stops answering is known within a
// bound whether or not a step is running.
//
// Both messages are authenticated with HMAC-SHA256 (16 bytes kept) under a key derived from the
// cluster secret (HKDF, "shoal heartbeat v1"); a Pong must echo a Ping this rank 0 sent (its pool
// id and sequence number), so a recorded Pong replayed later is dropped. A Ping tells the node
// which job (pool id, epoch) the pool runs now: a node still inside an older job of that pool
// (blocked on a peer that died) leaves it at once and is ready for the next.
// Layout (little-endian, fixed, at most kMaxDatagramBytes):
//   u32 magic "SHHB", u8 version, u8 type (1 ping, 2 pong), u16 reserved, body, 16-byte tag.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace shoal::cluster {

inline constexpr uint8_t kHeartbeatVersion = 1;
inline constexpr size_t kMaxDatagramBytes = 512;
inline constexpr size_t kMaxStatusText = 48;  // version and model strings

// What a node is doing.
enum class NodeActivity : uint8_t { kIdle = 0, kJob = 1 };

struct Ping {
  uint64_t pool = 0;   // random per rank 0 process
  uint64_t seq = 0;    // increasing per rank 0
  uint64_t epoch = 0;  // the job the pool runs now (0: none yet)
};

// A worker whose job's rank 0 pinged and then stayed silent this long (or ten of its usual gaps
// between pings, if longer) leaves that job: the rank 0 died or lost its network without closing
// its connections. A new rank 0 waits a few of these for such a node at startup.
constexpr uint64_t kRank0SilentMs = 3000;

struct NodeStatus {
  uint64_t instance = 0;  // random per node process: a restart shows as a new instance
  uint32_t protocol = 0;  // the data path's protocol version (comm/tcp/handshake.h)
  uint64_t uptime_ms = 0;
  uint64_t memory_total_bytes = 0;
  uint64_t memory_available_bytes = 0;
  float load = 0;  // 1-minute load average
  uint32_t threads = 0;
  NodeActivity activity = NodeActivity::kIdle;
  uint64_t job_pool = 0, job_epoch = 0;  // the job it is in (kJob)
  std::string version;                   // shoal's build, at most kMaxStatusText bytes
  std::string model;                     // short content identity of its own copy, or ""
};

struct Pong {
  uint64_t pool = 0, seq = 0;  // the Ping's
  NodeStatus status;
};

// The HMAC key, derived once from the cluster secret.
struct HeartbeatKey {
  std::array<uint8_t, 32> bytes{};
  static HeartbeatKey FromSecret(const std::string& secret);
};

std::vector<uint8_t> EncodePing(const HeartbeatKey& key, const Ping& p);
std::vector<uint8_t> EncodePong(const HeartbeatKey& key, const Pong& p);
// Corrupt with the reason on anything but a well-formed, authentic datagram of that type.
StatusOr<Ping> DecodePing(const HeartbeatKey& key, std::span<const uint8_t> d);
StatusOr<Pong> DecodePong(const HeartbeatKey& key, std::span<const uint8_t> d);

// This process's status fields that do not depend on a job: memory, load, uptime since start.
void FillHostStatus(NodeStatus* s, uint64_t started_ms);
uint64_t MonotonicMs();
uint64_t MonotonicUs();
uint64_t RandomU64();

// The node side: a thread answering pings on UDP HOST:PORT until destroyed. `status` is called for
// every pong; `on_ping` sees every authentic ping (before the pong goes); `on_tick` (optional) is
// called from the same thread at least every 100 ms, pings or not.
class HeartbeatResponder {
 public:
  static StatusOr<std::unique_ptr<HeartbeatResponder>> Start(
      const std::string& host_port, const std::string& secret, std::function<NodeStatus()> status,
      std::function<void(const Ping&)> on_ping, std::function<void()> on_tick = {});
  ~HeartbeatResponder();
  HeartbeatResponder(const HeartbeatResponder&) = delete;
  HeartbeatResponder& operator=(const HeartbeatResponder&) = delete;
  int port() const;

  struct Impl;

 private:
  explicit HeartbeatResponder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::cluster
