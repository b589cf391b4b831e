#include "comm/tcp/transport.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "comm/peer_group.h"

namespace shoal::comm::tcp {
namespace {
#ifdef MSG_NOSIGNAL
constexpr int kNoSignal = MSG_NOSIGNAL;
#else
constexpr int kNoSignal = 0;  // SO_NOSIGPIPE on the socket (macOS)
#endif

Status SocketError(const char* what) {
  if (errno == EPIPE || errno == ECONNRESET) return Unavailable("the peer closed the connection");
  if (errno == ETIMEDOUT) {
    return Unavailable("the peer's machine stopped answering (no reply to TCP keepalive probes)");
  }
  return Unavailable(std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

TcpTransport::TcpTransport(int rank, std::vector<Fd> fds, std::vector<std::string> addresses)
    : rank_(rank), fds_(std::move(fds)), addresses_(std::move(addresses)) {
  pollfds_.reserve(2 * fds_.size());
}

std::string TcpTransport::PeerName(int peer) const {
  return "rank " + std::to_string(peer) + " (" + addresses_[peer] + ")";
}

Status TcpTransport::TryWrite(int peer, std::span<const ConstBuf> bufs, size_t* moved) {
  iovec iov[4];
  size_t n = 0;
  for (const ConstBuf& b : bufs) {
    if (n < 4) iov[n++] = {const_cast<void*>(b.data), b.bytes};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  const ssize_t r = sendmsg(fds_[peer].get(), &msg, MSG_DONTWAIT | kNoSignal);
  if (r >= 0) {
    *moved = static_cast<size_t>(r);
    return Status::Ok();
  }
  *moved = 0;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Status::Ok();
  return SocketError("send");
}

Status TcpTransport::TryRead(int peer, std::span<const MutBuf> bufs, size_t* moved) {
  iovec iov[4];
  size_t n = 0;
  for (const MutBuf& b : bufs) {
    if (n < 4) iov[n++] = {b.data, b.bytes};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  const ssize_t r = recvmsg(fds_[peer].get(), &msg, MSG_DONTWAIT);
  *moved = 0;
  if (r > 0) {
    *moved = static_cast<size_t>(r);
    return Status::Ok();
  }
  if (r == 0) return Unavailable("the peer closed the connection");
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Status::Ok();
  return SocketError("receive");
}

Status TcpTransport::Wait(std::span<const int> write_peers, std::span<const int> read_peers,
                          int max_wait_ms, uint64_t) {
  pollfds_.clear();
  for (int p : write_peers) pollfds_.push_back({fds_[p].get(), POLLOUT, 0});
  for (int p : read_peers) pollfds_.push_back({fds_[p].get(), POLLIN, 0});
  const int r = poll(pollfds_.data(), pollfds_.size(), max_wait_ms);
  if (r < 0 && errno != EINTR) return IoError(std::string("poll: ") + std::strerror(errno));
  return Status::Ok();  // readiness, hang-ups and errors show in the next TryRead / TryWrite
}

void TcpTransport::Abort() {
  for (Fd& fd : fds_) {
    if (fd.valid()) shutdown(fd.get(), SHUT_RDWR);
  }
}

int PeerFdForTesting(Group& group, int peer) {
  auto* pg = dynamic_cast<PeerGroup*>(&group);
  if (pg == nullptr) return -1;
  auto* io = dynamic_cast<StreamPeerIo*>(&pg->io());
  if (io == nullptr) return -1;
  auto* t = dynamic_cast<TcpTransport*>(&io->transport());
  return t == nullptr ? -1 : t->fd(peer);
}

}  // namespace shoal::comm::tcp
