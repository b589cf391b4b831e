#include "comm/frame.h"

namespace shoal::comm {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kP2P:
      return "send/recv";
    case Op::kAllReduce:
      return "all-reduce";
    case Op::kAllGather:
      return "all-gather";
    case Op::kGather:
      return "gather";
    case Op::kBroadcast:
      return "broadcast";
    case Op::kBarrier:
      return "barrier";
  }
  return "unknown op";
}

void EncodeFrameHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]) {
  PutU32(out, h.magic);
  out[4] = h.type;
  out[5] = h.op;
  PutU16(out + 6, h.reserved);
  PutU64(out + 8, h.bytes);
}

FrameHeader DecodeFrameHeader(const uint8_t in[kFrameHeaderBytes]) {
  FrameHeader h;
  h.magic = GetU32(in);
  h.type = in[4];
  h.op = in[5];
  h.reserved = GetU16(in + 6);
  h.bytes = GetU64(in + 8);
  return h;
}

}  // namespace shoal::comm
