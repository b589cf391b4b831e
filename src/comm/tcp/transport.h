// The tcp data path: one connected, non-blocking TCP socket per peer (TCP_NODELAY), written
// straight from the caller's buffers with sendmsg and read straight into the destination with
// recvmsg; poll() waits on all pending peers at once.
#pragma once

#include <poll.h>

#include <string>
#include <vector>

#include "comm/group.h"
#include "comm/tcp/socket.h"
#include "comm/transport.h"

namespace shoal::comm::tcp {

class TcpTransport : public Transport {
 public:
  // fds[p]: the socket to rank p (invalid for this rank); names[p]: "host:port" of rank p.
  TcpTransport(int rank, std::vector<Fd> fds, std::vector<std::string> addresses);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(fds_.size()); }
  std::string PeerName(int peer) const override;
  Status TryWrite(int peer, std::span<const ConstBuf> bufs, size_t* moved) override;
  Status TryRead(int peer, std::span<const MutBuf> bufs, size_t* moved) override;
  Status Wait(std::span<const int> write_peers, std::span<const int> read_peers, int max_wait_ms,
              uint64_t idle_rounds) override;
  void Abort() override;

  int fd(int peer) const { return fds_[peer].get(); }

 private:
  int rank_;
  std::vector<Fd> fds_;
  std::vector<std::string> addresses_;
  std::vector<::pollfd> pollfds_;  // reused by Wait
};

// Tests only: the socket a tcp Group uses to talk to `peer` (-1 if `group` is not tcp).
int PeerFdForTesting(Group& group, int peer);

}  // namespace shoal::comm::tcp
