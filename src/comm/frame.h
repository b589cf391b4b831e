// The data frame every byte-stream backend (tcp, shm, loopback) puts before each message:
// 16 bytes, little-endian (docs/wire-protocol.md, "Data frames").
//
//   offset 0  u32  magic 0x444C4853 ("SHLD")
//   offset 4  u8   type  (kFrameData = 0x10)
//   offset 5  u8   op    (Op: which collective sent it; must match the receiver's)
//   offset 6  u16  reserved, 0
//   offset 8  u64  payload bytes (must equal what the receiver expects; never used to allocate)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shoal::comm {

inline constexpr uint32_t kFrameMagic = 0x444C4853;  // "SHLD" in little-endian byte order
inline constexpr uint8_t kFrameData = 0x10;
inline constexpr size_t kFrameHeaderBytes = 16;

// The operation a data frame belongs to; a receiver in a different collective sees a mismatch.
enum class Op : uint8_t {
  kP2P = 1,
  kAllReduce = 2,
  kAllGather = 3,
  kGather = 4,
  kBroadcast = 5,
  kBarrier = 6,
};

std::string_view OpName(Op op);

struct FrameHeader {
  uint32_t magic = kFrameMagic;
  uint8_t type = kFrameData;
  uint8_t op = 0;
  uint16_t reserved = 0;
  uint64_t bytes = 0;
};

void EncodeFrameHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]);
FrameHeader DecodeFrameHeader(const uint8_t in[kFrameHeaderBytes]);

// Little-endian field access (the wire is little-endian on every host).
inline void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace shoal::comm
