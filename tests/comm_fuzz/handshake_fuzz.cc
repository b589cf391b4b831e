// libFuzzer target: the tcp control protocol's parsers (HELLO, HELLO_ACK, AUTH, ASSIGN, MESH,
// control headers, the secret rule) on arbitrary bytes, and both sides of the handshake reading
// arbitrary bytes from their peer over a socketpair: a Status every time, never a crash, an
// out-of-bounds access or an allocation sized by the wire beyond its bound.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/channel.h"
#include "comm/tcp/handshake.h"
#include "fuzz_inputs.h"

namespace {

using namespace shoal;
using namespace shoal::comm;
using namespace shoal::comm::tcp;

// A socketpair whose far end has already sent `bytes` and closed its sending side.
struct Pipe {
  int near = -1, far = -1;
  Pipe(const uint8_t* bytes, size_t n) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) __builtin_trap();
    near = fds[0];
    far = fds[1];
    int size = 1 << 20;
    setsockopt(far, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(near, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(near, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (!SetSocketOptions(near).ok()) __builtin_trap();
    if (n > 0 && !WriteFull(far, bytes, n, After(1000)).ok()) __builtin_trap();
    shutdown(far, SHUT_WR);
  }
  ~Pipe() {
    close(near);
    close(far);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 200000) return 0;
  const std::vector<uint8_t> rest(data + 1, data + size);
  LinkParams link;
  link.secret = fuzz::kSecret;
  switch (data[0] % fuzz::kTargets) {
    case fuzz::kDecodeHello:
      (void)DecodeHello(rest);
      break;
    case fuzz::kDecodeHelloAck:
      (void)DecodeHelloAck(rest);
      break;
    case fuzz::kDecodeAuth:
      (void)DecodeAuth(rest);
      break;
    case fuzz::kDecodeAssign: {
      auto a = DecodeAssign(rest);
      if (a.ok()) {
        if (a->world < 2 || a->rank < 1 || a->rank >= a->world) __builtin_trap();
        if (EncodeAssign(*a) != rest) __builtin_trap();  // a parsed ASSIGN round-trips
      }
      break;
    }
    case fuzz::kDecodeMesh:
      (void)DecodeMesh(Message{MsgType::kMesh, rest});
      break;
    case fuzz::kReadPlain:
    case fuzz::kReadSealed: {
      Pipe p(rest.data(), rest.size());
      auto ch = Channel::Create(
          data[0] % fuzz::kTargets == fuzz::kReadSealed ? LinkSecurity::kSeal : LinkSecurity::kNone,
          Cipher::kChaCha20Poly1305, fuzz::kKeyOut, fuzz::kKeyIn);
      if (!ch.ok()) __builtin_trap();
      for (int i = 0; i < 4; ++i) {
        auto m = ReadMessage(p.near, After(200), ch->get());
        if (!m.ok()) break;
        if (m->payload.size() > kMaxControlBytes) __builtin_trap();
      }
      break;
    }
    case fuzz::kAcceptor: {
      Pipe p(rest.data(), rest.size());
      (void)AuthenticateAsAcceptor(p.near, link, After(200));
      break;
    }
    case fuzz::kDialer: {
      Pipe p(rest.data(), rest.size());
      (void)AuthenticateAsDialer(p.near, link, After(200));
      break;
    }
    case fuzz::kSecretRule:
      (void)CheckSecret(std::string(rest.begin(), rest.end()));
      break;
  }
  return 0;
}
