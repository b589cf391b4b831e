#include "comm/peer_group.h"

#include <cstring>

#include "comm/reduce.h"

namespace shoal::comm {

Algorithm ChooseAllReduce(size_t bytes, int world) {
  return bytes <= kDirectMaxBytes || world <= 2 ? Algorithm::kDirect : Algorithm::kRing;
}

PeerGroup::PeerGroup(std::unique_ptr<PeerIo> io, std::string backend)
    : io_(std::move(io)), backend_(std::move(backend)) {
  sends_.reserve(io_->size());
  recvs_.reserve(io_->size());
}

Status PeerGroup::Run(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs) {
  if (!broken_.ok()) return broken_;
  Status st = io_->Exchange(op, sends, recvs);
  if (!st.ok()) {
    broken_ = st;
    io_->Abort();
  }
  return st;
}

Status PeerGroup::CheckPeerArg(int peer, std::string_view what) const {
  if (peer < 0 || peer >= size()) {
    return InvalidArgument(std::string(what) + ": rank " + std::to_string(peer) +
                           " is not in a group of " + std::to_string(size()));
  }
  return Status::Ok();
}

float* PeerGroup::Scratch(size_t bytes) {
  const size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
  if (scratch_.size() < floats) scratch_.resize(floats);
  return scratch_.data();
}

Status PeerGroup::Send(int peer, const void* data, size_t bytes) {
  SHOAL_RETURN_IF_ERROR(CheckPeerArg(peer, "send"));
  if (peer == rank()) return InvalidArgument("send: a rank cannot send to itself");
  if (data == nullptr && bytes > 0) return InvalidArgument("send: null data");
  const SendOp op{peer, data, bytes};
  return Run(Op::kP2P, std::span(&op, 1), {});
}

Status PeerGroup::Recv(int peer, void* data, size_t bytes) {
  SHOAL_RETURN_IF_ERROR(CheckPeerArg(peer, "recv"));
  if (peer == rank()) return InvalidArgument("recv: a rank cannot receive from itself");
  if (data == nullptr && bytes > 0) return InvalidArgument("recv: null data");
  const RecvOp op{peer, data, bytes};
  return Run(Op::kP2P, {}, std::span(&op, 1));
}

Status PeerGroup::AllReduceSum(void* data, size_t count, ElemType type, Algorithm algo) {
  if (!broken_.ok()) return broken_;
  const size_t elem = type == ElemType::kF32 ? 4 : 2;
  if (count > (SIZE_MAX / 4) / static_cast<size_t>(size())) {
    return InvalidArgument("all-reduce: count " + std::to_string(count) + " is too large");
  }
  if (data == nullptr && count > 0) return InvalidArgument("all-reduce: null data");
  if (size() == 1) return Status::Ok();
  if (algo == Algorithm::kAuto) algo = ChooseAllReduce(count * elem, size());
  return algo == Algorithm::kRing ? AllReduceRing(data, count, type)
                                  : AllReduceDirect(data, count, type);
}

Status PeerGroup::AllReduceDirect(void* data, size_t count, ElemType type) {
  const int n = size(), me = rank();
  const size_t bytes = count * (type == ElemType::kF32 ? 4 : 2);
  uint8_t* scratch = reinterpret_cast<uint8_t*>(Scratch(bytes * (n - 1)));
  auto slot = [&](int p) { return scratch + bytes * (p < me ? p : p - 1); };
  sends_.clear();
  recvs_.clear();
  for (int p = 0; p < n; ++p) {
    if (p == me) continue;
    sends_.push_back({p, data, bytes});
    recvs_.push_back({p, slot(p), bytes});
  }
  SHOAL_RETURN_IF_ERROR(Run(Op::kAllReduce, sends_, recvs_));
  if (type == ElemType::kF32) {
    const float* src[256];
    std::vector<const float*> big;
    const float** s = n <= 256 ? src : (big.resize(n), big.data());
    for (int p = 0; p < n; ++p) {
      s[p] = p == me ? static_cast<const float*>(data) : reinterpret_cast<const float*>(slot(p));
    }
    SumInOrderF32(std::span(s, n), count, static_cast<float*>(data));
  } else {
    const uint16_t* src[256];
    std::vector<const uint16_t*> big;
    const uint16_t** s = n <= 256 ? src : (big.resize(n), big.data());
    for (int p = 0; p < n; ++p) {
      s[p] =
          p == me ? static_cast<const uint16_t*>(data) : reinterpret_cast<const uint16_t*>(slot(p));
    }
    SumInOrderBF16(std::span(s, n), count, static_cast<uint16_t*>(data));
  }
  return Status::Ok();
}

// After n-1 steps rank r holds the finished sum of chunk (r+1) % n in data.
Status PeerGroup::RingReduceScatterF32(float* data, size_t count) {
  const int n = size(), me = rank();
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  float* scratch = Scratch((count / n + 1) * sizeof(float));
  for (int s = 0; s < n - 1; ++s) {
    const int send_c = ((me - s) % n + n) % n;
    const int recv_c = ((me - s - 1) % n + n) % n;
    const size_t sb = ChunkBegin(count, n, send_c), se = ChunkBegin(count, n, send_c + 1);
    const size_t rb = ChunkBegin(count, n, recv_c), re = ChunkBegin(count, n, recv_c + 1);
    const SendOp send{next, data + sb, (se - sb) * sizeof(float)};
    const RecvOp recv{prev, scratch, (re - rb) * sizeof(float)};
    SHOAL_RETURN_IF_ERROR(Run(Op::kAllReduce, std::span(&send, 1), std::span(&recv, 1)));
    AddF32(data + rb, scratch, re - rb);  // partial of ranks before us, plus ours
  }
  return Status::Ok();
}

// Each rank starts with the finished chunk (r+1) % n and ends with all of them.
Status PeerGroup::RingAllGather(uint8_t* data, size_t count, size_t elem_bytes) {
  const int n = size(), me = rank();
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  for (int s = 0; s < n - 1; ++s) {
    const int send_c = ((me + 1 - s) % n + n) % n;
    const int recv_c = ((me - s) % n + n) % n;
    const size_t sb = ChunkBegin(count, n, send_c), se = ChunkBegin(count, n, send_c + 1);
    const size_t rb = ChunkBegin(count, n, recv_c), re = ChunkBegin(count, n, recv_c + 1);
    const SendOp send{next, data + sb * elem_bytes, (se - sb) * elem_bytes};
    const RecvOp recv{prev, data + rb * elem_bytes, (re - rb) * elem_bytes};
    SHOAL_RETURN_IF_ERROR(Run(Op::kAllReduce, std::span(&send, 1), std::span(&recv, 1)));
  }
  return Status::Ok();
}

Status PeerGroup::AllReduceRing(void* data, size_t count, ElemType type) {
  const int n = size(), me = rank();
  if (type == ElemType::kF32) {
    SHOAL_RETURN_IF_ERROR(RingReduceScatterF32(static_cast<float*>(data), count));
    return RingAllGather(static_cast<uint8_t*>(data), count, 4);
  }
  uint16_t* bf = static_cast<uint16_t*>(data);
  if (work_.size() < count) work_.resize(count);
  F32FromBF16(bf, count, work_.data());
  SHOAL_RETURN_IF_ERROR(RingReduceScatterF32(work_.data(), count));
  const int own = (me + 1) % n;
  const size_t b = ChunkBegin(count, n, own), e = ChunkBegin(count, n, own + 1);
  BF16FromF32(work_.data() + b, e - b, bf + b);
  return RingAllGather(reinterpret_cast<uint8_t*>(bf), count, 2);
}

namespace {

Status Offsets(std::span<const size_t> bytes_per_rank, int n, std::string_view what,
               std::vector<size_t>* offsets) {
  if (bytes_per_rank.size() != static_cast<size_t>(n)) {
    return InvalidArgument(std::string(what) + ": " + std::to_string(bytes_per_rank.size()) +
                           " sizes for a group of " + std::to_string(n));
  }
  offsets->resize(n + 1);
  size_t total = 0;
  for (int r = 0; r < n; ++r) {
    (*offsets)[r] = total;
    if (bytes_per_rank[r] > SIZE_MAX - total)
      return InvalidArgument(std::string(what) + ": sizes overflow");
    total += bytes_per_rank[r];
  }
  (*offsets)[n] = total;
  return Status::Ok();
}

}  // namespace

Status PeerGroup::AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) {
  const int n = size(), me = rank();
  std::vector<size_t> off;
  SHOAL_RETURN_IF_ERROR(Offsets(bytes_per_rank, n, "all-gather", &off));
  if ((in == nullptr && bytes_per_rank[me] > 0) || (out == nullptr && off[n] > 0)) {
    return InvalidArgument("all-gather: null buffer");
  }
  uint8_t* o = static_cast<uint8_t*>(out);
  sends_.clear();
  recvs_.clear();
  for (int p = 0; p < n; ++p) {
    if (p == me) continue;
    sends_.push_back({p, in, bytes_per_rank[me]});
    recvs_.push_back({p, o + off[p], bytes_per_rank[p]});
  }
  SHOAL_RETURN_IF_ERROR(Run(Op::kAllGather, sends_, recvs_));
  if (bytes_per_rank[me] > 0 && o + off[me] != in)
    std::memmove(o + off[me], in, bytes_per_rank[me]);
  return Status::Ok();
}

Status PeerGroup::GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                          int root) {
  const int n = size(), me = rank();
  SHOAL_RETURN_IF_ERROR(CheckPeerArg(root, "gather root"));
  std::vector<size_t> off;
  SHOAL_RETURN_IF_ERROR(Offsets(bytes_per_rank, n, "gather", &off));
  if ((in == nullptr && bytes_per_rank[me] > 0) || (me == root && out == nullptr && off[n] > 0)) {
    return InvalidArgument("gather: null buffer");
  }
  if (me != root) {
    const SendOp send{root, in, bytes_per_rank[me]};
    return Run(Op::kGather, std::span(&send, 1), {});
  }
  uint8_t* o = static_cast<uint8_t*>(out);
  recvs_.clear();
  for (int p = 0; p < n; ++p) {
    if (p != me) recvs_.push_back({p, o + off[p], bytes_per_rank[p]});
  }
  SHOAL_RETURN_IF_ERROR(Run(Op::kGather, {}, recvs_));
  if (bytes_per_rank[me] > 0 && o + off[me] != in)
    std::memmove(o + off[me], in, bytes_per_rank[me]);
  return Status::Ok();
}

Status PeerGroup::Broadcast(void* data, size_t bytes, int root) {
  const int n = size(), me = rank();
  SHOAL_RETURN_IF_ERROR(CheckPeerArg(root, "broadcast root"));
  if (data == nullptr && bytes > 0) return InvalidArgument("broadcast: null data");
  if (me != root) {
    const RecvOp recv{root, data, bytes};
    return Run(Op::kBroadcast, {}, std::span(&recv, 1));
  }
  sends_.clear();
  for (int p = 0; p < n; ++p) {
    if (p != me) sends_.push_back({p, data, bytes});
  }
  return Run(Op::kBroadcast, sends_, {});
}

Status PeerGroup::Barrier() {
  const int n = size(), me = rank();
  sends_.clear();
  recvs_.clear();
  for (int p = 0; p < n; ++p) {
    if (p == me) continue;
    sends_.push_back({p, nullptr, 0});
    recvs_.push_back({p, nullptr, 0});
  }
  return Run(Op::kBarrier, sends_, recvs_);
}

}  // namespace shoal::comm
