// tcp backend: the ranks of a job on several machines, one TCP connection per pair of ranks.
//
// Rendezvous (docs/wire-protocol.md): workers listen; rank 0 dials each worker (workers[i]
// becomes rank i+1), both sides authenticate with the cluster secret (HMAC-SHA256 challenge/
// response, both directions), rank 0 sends each its rank, the world size, every worker's address
// and a random session id; worker i then dials workers 1..i-1 and accepts i+1..n-1 (rank 0 never
// listens), reports READY, and once every worker has, rank 0 sends START and all calls return.
//
//   // on each worker machine, forever:
//   auto l = tcp::Listener::Bind("0.0.0.0:7000");
//   while (true) { auto g = tcp::Join(*l, opts, -1); if (g.ok()) Serve(**g); }
//   // on rank 0:
//   auto g = tcp::Launch({"10.0.0.2:7000", "10.0.0.3:7000"}, opts);
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/status.h"
#include "comm/channel.h"
#include "comm/group.h"
#include "comm/tcp/socket.h"

namespace shoal::comm::tcp {

struct Options {
  std::string secret;  // the cluster secret, the same on every rank (CheckSecret)
  // Frames after the handshake: kSeal encrypted and authenticated, kAuth authenticated only,
  // kNone neither (benchmarks). Every rank must use the same (refused otherwise).
  LinkSecurity link_security = LinkSecurity::kSeal;
  bool allow_aes_gcm = true;       // false: offer ChaCha20-Poly1305 only (tests)
  int connect_timeout_ms = 10000;  // how long rank 0 (and workers meshing) retry dialing
  int io_timeout_ms = 30000;       // a peer silent this long during a call is an error
  bool busy_poll = false;          // spin on non-blocking sockets (lowest latency, burns a core)
};

// A listening socket a worker waits on; closes on destruction.
class Listener {
 public:
  // "host:port"; port 0 picks a free port ("127.0.0.1:0").
  static StatusOr<Listener> Bind(const std::string& host_port);
  Listener(Listener&&) = default;
  Listener& operator=(Listener&&) = default;

  int port() const { return port_; }
  // "host:port" with the bound port (what rank 0 should dial, if host is not a wildcard).
  std::string address() const;
  int fd() const { return fd_.get(); }

 private:
  Listener() = default;
  Fd fd_;
  std::string host_;
  int port_ = 0;
};

// Rank 0: dials every worker (retrying until connect_timeout_ms), authenticates, and returns once
// the whole mesh is up. Errors name the worker that failed.
StatusOr<std::unique_ptr<Group>> Launch(std::span<const std::string> workers, const Options& o);

// A worker: waits on `listener` up to accept_timeout_ms (< 0: forever) for a rank 0, then meshes.
// Connections that fail authentication or are not a rank 0 are refused and the wait goes on; a
// timeout error says how many were refused and why. Call again for the next job.
StatusOr<std::unique_ptr<Group>> Join(Listener& listener, const Options& o, int accept_timeout_ms);

// A new cluster secret: 32 bytes from libsodium's generator as 64 hex digits (`shoal secret`).
std::string NewClusterSecret();

// "seal aes-256-gcm", "auth chacha20-poly1305", "none": what a tcp group's links use ("" if
// `group` is not tcp).
std::string LinkDescription(Group& group);

}  // namespace shoal::comm::tcp
