#include "comm/tcp/tcp.h"

#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "comm/peer_group.h"
#include "comm/tcp/handshake.h"
#include "comm/tcp/transport.h"

namespace shoal::comm::tcp {
namespace {

Status CheckOptions(const Options& o) {
  if (o.secret.empty()) return InvalidArgument("tcp: a cluster secret is required");
  SHOAL_RETURN_IF_ERROR(CheckSecret(o.secret).With("tcp"));
  if (o.io_timeout_ms <= 0 || o.connect_timeout_ms < 0) {
    return InvalidArgument("tcp: timeouts must be positive");
  }
  return InitCrypto();
}

LinkParams Link(const Options& o) {
  LinkParams p;
  p.secret = o.secret;
  p.security = o.link_security;
  p.ciphers = o.allow_aes_gcm ? 0 : CipherBit(Cipher::kChaCha20Poly1305);
  return p;
}

// An authenticated connection: its socket and its channel.
struct Conn {
  Fd fd;
  std::unique_ptr<Channel> ch;
};

std::unique_ptr<Group> MakeGroup(int rank, std::vector<Conn> conns, std::vector<std::string> names,
                                 const Options& o) {
  std::vector<Fd> fds(conns.size());
  std::vector<std::unique_ptr<Channel>> channels(conns.size());
  for (size_t i = 0; i < conns.size(); ++i) {
    fds[i] = std::move(conns[i].fd);
    channels[i] = std::move(conns[i].ch);
  }
  auto t = std::make_unique<TcpTransport>(rank, std::move(fds), std::move(names));
  auto io = std::make_unique<StreamPeerIo>(
      std::move(t), StreamOptions{o.io_timeout_ms, o.busy_poll}, std::move(channels));
  return std::make_unique<PeerGroup>(std::move(io), "tcp");
}

// Dials until connected or the deadline passes (the peer may not listen yet).
StatusOr<Fd> DialWithRetry(const std::string& address, Deadline deadline) {
  SHOAL_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(address));
  while (true) {
    auto fd = ConnectOnce(hp, deadline);
    if (fd.ok() || MsLeft(deadline) == 0) return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, MsLeft(deadline))));
  }
}

// Waits for one connection on the listener until the deadline (never if `forever`).
StatusOr<Fd> AcceptOne(const Listener& l, Deadline deadline, bool forever) {
  while (true) {
    const int wait_ms = forever ? 1000 : MsLeft(deadline);
    pollfd p{l.fd(), POLLIN, 0};
    const int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno != EINTR) return IoError(std::string("poll: ") + std::strerror(errno));
    if (r > 0) {
      Fd fd(accept(l.fd(), nullptr, nullptr));
      if (fd.valid()) {
        SHOAL_RETURN_IF_ERROR(SetSocketOptions(fd.get()));
        return fd;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        return IoError(std::string("accept: ") + std::strerror(errno));
      }
    }
    if (!forever && MsLeft(deadline) == 0) return Unavailable("timed out");
  }
}

// A worker's part of the mesh after ASSIGN: dial 1..rank-1, accept rank+1..world-1.
Status Mesh(Listener& l, const Options& o, const Assignment& a, std::vector<Conn>& conns,
            std::vector<std::pair<Conn, MeshHello>>& early) {
  const int me = static_cast<int>(a.rank), world = static_cast<int>(a.world);
  const Deadline deadline = After(o.connect_timeout_ms + o.io_timeout_ms);
  auto take = [&](Conn c, const MeshHello& h) -> Status {
    const int r = static_cast<int>(h.rank);
    if (std::memcmp(h.session, a.session, kSessionBytes) != 0) {
      (void)SendError(c.fd.get(), "unknown session", After(100), c.ch.get());
      return Status::Ok();  // a stray from another job: refused, keep waiting
    }
    if (r <= me || r >= world || conns[r].fd.valid()) {
      (void)SendError(c.fd.get(), "unexpected rank " + std::to_string(r), After(100), c.ch.get());
      return Status::Ok();
    }
    SHOAL_RETURN_IF_ERROR(
        SendMessage(c.fd.get(), MsgType::kMeshOk, nullptr, 0, deadline, c.ch.get()));
    conns[r] = std::move(c);
    return Status::Ok();
  };
  for (auto& [c, h] : early) SHOAL_RETURN_IF_ERROR(take(std::move(c), h));
  early.clear();
  for (int j = 1; j < me; ++j) {
    const std::string who = "rank " + std::to_string(j) + " (" + a.addresses[j] + ")";
    auto fd = DialWithRetry(a.addresses[j], deadline);
    if (!fd.ok()) return fd.status().With(who);
    uint8_t mesh[kSessionBytes + 4];
    std::memcpy(mesh, a.session, kSessionBytes);
    PutU32(mesh + kSessionBytes, a.rank);
    auto ch = AuthenticateAsDialer(fd->get(), Link(o), deadline);
    if (!ch.ok()) return ch.status().With(who);
    Status st = SendMessage(fd->get(), MsgType::kMesh, mesh, sizeof mesh, deadline, ch->get());
    if (st.ok()) st = ReadMessageOf(fd->get(), MsgType::kMeshOk, deadline, ch->get()).status();
    if (!st.ok()) return st.With(who);
    conns[j] = Conn{std::move(*fd), std::move(*ch)};
  }
  for (int missing = world - 1 - me; missing > 0;) {
    auto fd = AcceptOne(l, deadline, false);
    if (!fd.ok())
      return Unavailable("tcp: " + std::to_string(missing) + " higher rank(s) did not connect");
    const Deadline hs = std::min(deadline, After(o.io_timeout_ms));
    auto ch = AuthenticateAsAcceptor(fd->get(), Link(o), hs);
    if (!ch.ok()) continue;
    auto m = ReadMessage(fd->get(), hs, ch->get());
    if (!m.ok()) continue;
    auto h = DecodeMesh(*m);
    if (!h.ok()) continue;
    const bool had = conns[h->rank < static_cast<uint32_t>(world) ? h->rank : 0].fd.valid();
    SHOAL_RETURN_IF_ERROR(take(Conn{std::move(*fd), std::move(*ch)}, *h));
    if (h->rank < static_cast<uint32_t>(world) && !had && conns[h->rank].fd.valid()) --missing;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Listener> Listener::Bind(const std::string& host_port) {
  SHOAL_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(host_port));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const int gai = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0)
    return InvalidArgument("tcp: cannot resolve '" + hp.host + "': " + gai_strerror(gai));
  Listener l;
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr && !l.fd_.valid(); a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype, a->ai_protocol));
    int one = 1;
    if (!fd.valid() || setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || listen(fd.get(), 128) != 0 ||
        !SetSocketOptions(fd.get()).ok()) {
      last = std::strerror(errno);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    l.port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    l.fd_ = std::move(fd);
  }
  freeaddrinfo(res);
  if (!l.fd_.valid()) return IoError("tcp: cannot listen on " + host_port + ": " + last);
  l.host_ = hp.host;
  return l;
}

std::string Listener::address() const {
  return FormatHostPort(host_, static_cast<uint16_t>(port_));
}

StatusOr<std::unique_ptr<Group>> Launch(std::span<const std::string> workers, const Options& o) {
  SHOAL_RETURN_IF_ERROR(CheckOptions(o));
  const int world = static_cast<int>(workers.size()) + 1;
  if (world > kMaxWorld) return InvalidArgument("tcp: too many workers");
  Assignment a;
  a.world = world;
  a.addresses.assign(1, "");
  for (const std::string& w : workers) {
    if (w.empty() || w.size() > kMaxAddressBytes)
      return InvalidArgument("tcp: bad address '" + w + "'");
    if (std::find(a.addresses.begin(), a.addresses.end(), w) != a.addresses.end()) {
      return InvalidArgument("tcp: worker '" + w + "' is listed twice");
    }
    a.addresses.push_back(w);
  }
  RandomBytes(a.session, kSessionBytes);
  std::vector<Conn> conns(world);
  std::vector<std::string> names(world);
  names[0] = "self";
  const Deadline dial_deadline = After(o.connect_timeout_ms);
  for (int r = 1; r < world; ++r) {
    names[r] = a.addresses[r];
    const std::string who = "tcp: rank " + std::to_string(r) + " (" + a.addresses[r] + ")";
    auto fd = DialWithRetry(a.addresses[r], dial_deadline);
    if (!fd.ok()) return fd.status().With(who);
    const Deadline hs = After(o.io_timeout_ms);
    auto ch = AuthenticateAsDialer(fd->get(), Link(o), hs);
    if (!ch.ok()) return ch.status().With(who);
    a.rank = r;
    const std::vector<uint8_t> p = EncodeAssign(a);
    Status st = SendMessage(fd->get(), MsgType::kAssign, p.data(), p.size(), hs, ch->get());
    if (!st.ok()) return st.With(who);
    conns[r] = Conn{std::move(*fd), std::move(*ch)};
  }
  const Deadline ready = After(o.connect_timeout_ms + 2 * o.io_timeout_ms);
  for (int r = 1; r < world; ++r) {
    Status st =
        ReadMessageOf(conns[r].fd.get(), MsgType::kReady, ready, conns[r].ch.get()).status();
    if (!st.ok())
      return st.With("tcp: rank " + std::to_string(r) + " (" + a.addresses[r] + ") meshing");
  }
  for (int r = 1; r < world; ++r) {
    SHOAL_RETURN_IF_ERROR(SendMessage(conns[r].fd.get(), MsgType::kStart, nullptr, 0,
                                      After(o.io_timeout_ms), conns[r].ch.get()));
  }
  return MakeGroup(0, std::move(conns), std::move(names), o);
}

StatusOr<std::unique_ptr<Group>> Join(Listener& l, const Options& o, int accept_timeout_ms) {
  SHOAL_RETURN_IF_ERROR(CheckOptions(o));
  const bool forever = accept_timeout_ms < 0;
  const Deadline deadline = After(forever ? 0 : accept_timeout_ms);
  std::vector<std::pair<Conn, MeshHello>> early;  // authenticated MESH dials that beat ASSIGN
  int refused = 0;
  std::string last_refusal;
  Conn root;
  std::string root_address;
  Assignment a;
  while (!root.fd.valid()) {
    auto fd = AcceptOne(l, deadline, forever);
    if (!fd.ok()) {
      std::string msg = "tcp: no rank 0 connected to " + l.address() + " within " +
                        std::to_string(accept_timeout_ms) + " ms";
      if (refused > 0) {
        msg += "; refused " + std::to_string(refused) + " connection(s), last: " + last_refusal;
      }
      return Unavailable(msg);
    }
    const std::string from = RemoteAddress(fd->get());
    const Deadline hs = After(o.io_timeout_ms);
    auto ch = AuthenticateAsAcceptor(fd->get(), Link(o), hs);
    StatusOr<Message> m =
        ch.ok() ? ReadMessage(fd->get(), hs, ch->get()) : StatusOr<Message>(ch.status());
    if (m.ok() && m->type == MsgType::kAssign) {
      auto dec = DecodeAssign(m->payload);
      if (dec.ok()) {
        a = std::move(*dec);
        root = Conn{std::move(*fd), std::move(*ch)};
        root_address = from;
        continue;
      }
      m = dec.status();
    } else if (m.ok() && m->type == MsgType::kMesh) {
      auto h = DecodeMesh(*m);
      if (h.ok()) {
        early.emplace_back(Conn{std::move(*fd), std::move(*ch)}, *h);
        continue;
      }
      m = h.status();
    } else if (m.ok()) {
      m = Corrupt("unexpected first message");
    }
    ++refused;
    last_refusal = from + ": " + m.status().message();
  }
  const int me = static_cast<int>(a.rank), world = static_cast<int>(a.world);
  std::vector<Conn> conns(world);
  conns[0] = std::move(root);
  Status st = Mesh(l, o, a, conns, early);
  if (!st.ok()) {
    (void)SendError(conns[0].fd.get(), "rank " + std::to_string(me) + ": " + st.message(),
                    After(100), conns[0].ch.get());
    return st.With("tcp: rank " + std::to_string(me) + " meshing");
  }
  const Deadline start = After(o.connect_timeout_ms + 2 * o.io_timeout_ms);
  SHOAL_RETURN_IF_ERROR(
      SendMessage(conns[0].fd.get(), MsgType::kReady, nullptr, 0, start, conns[0].ch.get()));
  st = ReadMessageOf(conns[0].fd.get(), MsgType::kStart, start, conns[0].ch.get()).status();
  if (!st.ok()) return st.With("tcp: rank 0 (" + root_address + ")");
  std::vector<std::string> names = a.addresses;
  names[0] = root_address;
  return MakeGroup(me, std::move(conns), std::move(names), o);
}

std::string NewClusterSecret() {
  uint8_t bytes[32];
  if (!InitCrypto().ok()) return "";
  RandomBytes(bytes, sizeof bytes);
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  sodium_memzero(bytes, sizeof bytes);
  return s;
}

std::string LinkDescription(Group& group) {
  auto* pg = dynamic_cast<PeerGroup*>(&group);
  auto* io = pg != nullptr ? dynamic_cast<StreamPeerIo*>(&pg->io()) : nullptr;
  if (io == nullptr || group.backend() != "tcp" || group.size() < 2) return "";
  const Channel* ch = io->channel_for(group.rank() == 0 ? 1 : 0);
  if (ch == nullptr) return "";
  if (ch->security() == LinkSecurity::kNone) return "none";
  return std::string(LinkSecurityName(ch->security())) + " " +
         std::string(CipherName(ch->cipher()));
}

}  // namespace shoal::comm::tcp
