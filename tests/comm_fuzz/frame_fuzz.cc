// libFuzzer target: the data-frame receive path (StreamPeerIo, frame.h, channel.h) fed an
// arbitrary byte stream from a peer, in every link security: it must return Ok or a Status,
// never crash, read or write outside the caller's buffer, or allocate from a wire length.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "comm/channel.h"
#include "comm/exchange.h"
#include "comm/transport.h"
#include "fuzz_inputs.h"

namespace {

using namespace shoal;
using namespace shoal::comm;

// Rank 0 of 2; rank 1's bytes come from the fuzzer, `chunk` at most per read.
class FuzzTransport : public Transport {
 public:
  FuzzTransport(const uint8_t* data, size_t size, size_t chunk)
      : data_(data), size_(size), chunk_(chunk) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string PeerName(int) const override { return "rank 1 (fuzz)"; }
  Status TryWrite(int, std::span<const ConstBuf> bufs, size_t* moved) override {
    *moved = 0;
    for (const ConstBuf& b : bufs) *moved += b.bytes;
    return Status::Ok();
  }
  Status TryRead(int, std::span<const MutBuf> bufs, size_t* moved) override {
    *moved = 0;
    if (at_ == size_) return Unavailable("the peer closed the connection");
    size_t budget = chunk_;
    for (const MutBuf& b : bufs) {
      const size_t n = std::min({b.bytes, budget, size_ - at_});
      if (n > 0) std::memcpy(b.data, data_ + at_, n);
      at_ += n;
      budget -= n;
      *moved += n;
      if (budget == 0 || at_ == size_) break;
    }
    return Status::Ok();
  }
  Status Wait(std::span<const int>, std::span<const int>, int, uint64_t) override {
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  size_t size_, chunk_, at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const uint8_t mode = data[0];
  const auto security = static_cast<LinkSecurity>((mode & 3) % 3);
  const Cipher cipher = (mode & 4) && (CiphersAvailable() & CipherBit(Cipher::kAes256Gcm))
                            ? Cipher::kAes256Gcm
                            : Cipher::kChaCha20Poly1305;
  const Op op = static_cast<Op>(data[1] % 6 + 1);
  const size_t expected = data[2] | (size_t{data[3]} << 8);
  const size_t chunk = size_t{data[4]} + 1;
  auto ch = Channel::Create(security, cipher, fuzz::kKeyOut, fuzz::kKeyIn);
  if (!ch.ok()) __builtin_trap();
  std::vector<std::unique_ptr<Channel>> channels(2);
  channels[1] = std::move(*ch);
  StreamPeerIo io(std::make_unique<FuzzTransport>(data + 5, size - 5, chunk), {1000, false},
                  std::move(channels));
  std::vector<uint8_t> buf(expected);
  for (int i = 0; i < 3; ++i) {
    const RecvOp r{1, expected > 0 ? buf.data() : nullptr, expected};
    if (!io.Exchange(op, {}, std::span(&r, 1)).ok()) break;
  }
  return 0;
}
