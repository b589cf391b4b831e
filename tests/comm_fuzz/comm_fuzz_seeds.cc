// Writes seeds for frame_fuzz and handshake_fuzz into argv[1]/frame and argv[1]/handshake: valid
// frames in every link security (sealed with the harness's keys, so their tags check out) and
// valid control messages of every kind.
#include <cstdio>
#include <string>
#include <vector>

#include "comm/channel.h"
#include "comm/tcp/handshake.h"
#include "fuzz_inputs.h"

namespace {

using namespace shoal;
using namespace shoal::comm;
using namespace shoal::comm::tcp;

bool Write(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// One frame as rank 1 would send it on a channel whose send key is kKeyIn.
void AppendFrame(Channel& ch, uint8_t type, Op op, const std::vector<uint8_t>& payload,
                 std::vector<uint8_t>* out) {
  uint8_t h[kFrameHeaderBytes];
  FrameHeader fh;
  fh.type = type;
  fh.op = type == kFrameData ? static_cast<uint8_t>(op) : 0;
  fh.bytes = payload.size();
  EncodeFrameHeader(fh, h);
  std::vector<uint8_t> body = payload;
  uint8_t tag[kTagBytes];
  if (!ch.Seal(h, payload.data(), payload.size(), body.data(), tag).ok()) std::abort();
  out->insert(out->end(), h, h + sizeof h);
  out->insert(out->end(), body.begin(), body.end());
  out->insert(out->end(), tag, tag + ch.tag_bytes());
}

std::vector<uint8_t> Framed(MsgType type, const std::vector<uint8_t>& payload) {
  auto ch = Channel::Create(LinkSecurity::kNone, Cipher::kChaCha20Poly1305, nullptr, nullptr);
  std::vector<uint8_t> out;
  AppendFrame(**ch, static_cast<uint8_t>(type), Op::kP2P, payload, &out);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: comm_fuzz_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;
  int n = 0;
  for (uint8_t mode : {0, 1, 2, 5, 6}) {
    const auto security = static_cast<LinkSecurity>((mode & 3) % 3);
    const Cipher cipher = (mode & 4) && (CiphersAvailable() & CipherBit(Cipher::kAes256Gcm))
                              ? Cipher::kAes256Gcm
                              : Cipher::kChaCha20Poly1305;
    for (uint16_t bytes : {0, 3, 64}) {
      auto ch = Channel::Create(security, cipher, fuzz::kKeyIn, fuzz::kKeyOut);
      if (!ch.ok()) return 1;
      std::vector<uint8_t> seed = {mode, 1, static_cast<uint8_t>(bytes), 0, 7};  // op 2: all-reduce
      std::vector<uint8_t> payload(bytes);
      for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13);
      AppendFrame(**ch, kFrameData, Op::kAllReduce, payload, &seed);
      AppendFrame(**ch, kFrameData, Op::kAllReduce, payload, &seed);
      ok &= Write(dir + "/frame/seed" + std::to_string(n++), seed);
    }
  }

  std::vector<uint8_t> hello(kHelloBytes, 7), ack(kHelloAckBytes, 9), auth(kAuthBytes, 5);
  PutU16(hello.data(), kProtocolVersion);
  PutU16(ack.data(), kProtocolVersion);
  ack[2 + kNonceBytes] = 2;
  ack[3 + kNonceBytes] = 6;
  auth[0] = 2;
  auth[1] = 2;
  Assignment a;
  for (size_t i = 0; i < kSessionBytes; ++i) a.session[i] = static_cast<uint8_t>(i);
  a.rank = 1;
  a.world = 3;
  a.addresses = {"", "10.0.0.2:7000", "[fe80::1]:7001"};
  const std::vector<uint8_t> assign = EncodeAssign(a);
  std::vector<uint8_t> mesh(kSessionBytes + 4, 1);
  auto with = [](uint8_t target, std::vector<uint8_t> body) {
    body.insert(body.begin(), target);
    return body;
  };
  std::vector<uint8_t> stream = Framed(MsgType::kHello, hello);
  const std::vector<uint8_t> auth_framed = Framed(MsgType::kAuth, auth);
  stream.insert(stream.end(), auth_framed.begin(), auth_framed.end());
  std::vector<uint8_t> sealed;
  {
    auto ch = Channel::Create(LinkSecurity::kSeal, Cipher::kChaCha20Poly1305, fuzz::kKeyIn,
                              fuzz::kKeyOut);
    AppendFrame(**ch, static_cast<uint8_t>(MsgType::kAssign), Op::kP2P, assign, &sealed);
    AppendFrame(**ch, static_cast<uint8_t>(MsgType::kStart), Op::kP2P, {}, &sealed);
  }
  const std::vector<std::vector<uint8_t>> seeds = {
      with(fuzz::kDecodeHello, hello),
      with(fuzz::kDecodeHelloAck, ack),
      with(fuzz::kDecodeAuth, auth),
      with(fuzz::kDecodeAssign, assign),
      with(fuzz::kDecodeMesh, mesh),
      with(fuzz::kReadPlain, Framed(MsgType::kAssign, assign)),
      with(fuzz::kReadSealed, sealed),
      with(fuzz::kAcceptor, stream),
      with(fuzz::kDialer, Framed(MsgType::kHelloAck, ack)),
      with(fuzz::kSecretRule, std::vector<uint8_t>(fuzz::kSecret, fuzz::kSecret + 40)),
  };
  for (size_t i = 0; i < seeds.size(); ++i) {
    ok &= Write(dir + "/handshake/seed" + std::to_string(i), seeds[i]);
  }
  if (!ok) std::fprintf(stderr, "comm_fuzz_seeds: cannot write into %s\n", dir.c_str());
  return ok ? 0 : 1;
}
