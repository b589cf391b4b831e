// PeerGroup: every collective of comm::Group written once over PeerIo::Exchange, shared by the
// tcp, shm, loopback and mpi backends (the backend only moves bytes).
//
// Algorithms (n ranks, a vector of `count` elements):
//   Direct all-reduce: every rank sends its whole vector to every other and receives theirs into a
//     per-peer scratch; each element is then summed in rank order ((x0 + x1) + x2) + ... on every
//     rank, so all ranks hold bit-identical results. One network latency; (n-1) x bytes out.
//   Ring all-reduce: the vector is cut into n chunks (chunk c = elements [c*count/n balanced]);
//     reduce-scatter in n-1 steps (rank r sends its partial of chunk r-s to r+1, adds what comes
//     from r-1: chunk c is folded ((x_c + x_{c+1}) + ...) + x_{c-1}, ending on rank c-1), then
//     all-gather in n-1 steps copies each finished chunk to every rank. The fold order depends only
//     on n, so results are deterministic and bit-identical across ranks. 2(n-1) latencies,
//     2 x bytes x (n-1)/n out: better for large vectors.
//   bf16: Direct sends bf16 and sums in f32; Ring reduce-scatters an f32 copy (partials travel
//     as f32), rounds each finished chunk to bf16 once, and all-gathers bf16.
//   kAuto: Direct up to kDirectMaxBytes per rank vector, Ring above (docs/wire-protocol.md,
//     "Algorithm choice", has the measurements).
//   AllGatherV / GatherV / Broadcast / Barrier: direct (one Exchange each).
//
// One thread uses a group at a time. After an error every later call returns that error.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/exchange.h"
#include "comm/group.h"

namespace shoal::comm {

// Vectors of at most this many bytes use Direct under kAuto (2 ranks: always Direct, the ring
// moves the same bytes in twice the steps). 32 KiB keeps every decode-sized all-reduce
// (2048..8192 f32 = 8..32 KiB) on Direct; from 64 KiB up the ring won or tied at 4 and 8 ranks
// on both transports (shoal_comm_bench --sweep, docs/wire-protocol.md "Algorithm choice").
inline constexpr size_t kDirectMaxBytes = 32 * 1024;

// The algorithm kAuto picks for a vector of `bytes` over `world` ranks.
Algorithm ChooseAllReduce(size_t bytes, int world);

// [begin, end) of chunk c of `count` elements split into n near-equal chunks (the first
// count % n chunks have one element more).
inline size_t ChunkBegin(size_t count, int n, int c) {
  return (count / n) * c + std::min<size_t>(c, count % n);
}

class PeerGroup : public Group {
 public:
  PeerGroup(std::unique_ptr<PeerIo> io, std::string backend);

  int rank() const override { return io_->rank(); }
  int size() const override { return io_->size(); }
  std::string_view backend() const override { return backend_; }
  std::string PeerName(int peer) const override { return io_->PeerName(peer); }

  Status Send(int peer, const void* data, size_t bytes) override;
  Status Recv(int peer, void* data, size_t bytes) override;
  Status AllReduceSum(void* data, size_t count, ElemType type, Algorithm algo) override;
  Status AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) override;
  Status GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                 int root) override;
  Status Broadcast(void* data, size_t bytes, int root) override;
  Status Barrier() override;
  void SetIoTimeoutMs(int timeout_ms) override { io_->SetIoTimeoutMs(timeout_ms); }
  void Abort() override { io_->Abort(); }

  PeerIo& io() { return *io_; }

 protected:
  // Runs one Exchange; the first error sticks (the group is unusable afterwards).
  Status Run(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs);
  Status CheckPeerArg(int peer, std::string_view what) const;
  Status broken_;

 private:
  Status AllReduceDirect(void* data, size_t count, ElemType type);
  Status AllReduceRing(void* data, size_t count, ElemType type);
  Status RingReduceScatterF32(float* data, size_t count);
  Status RingAllGather(uint8_t* data, size_t count, size_t elem_bytes);
  float* Scratch(size_t bytes);

  std::unique_ptr<PeerIo> io_;
  std::string backend_;
  std::vector<float> scratch_;  // receive space; grows to the largest need and stays
  std::vector<float> work_;     // f32 copy of a bf16 vector for the ring
  std::vector<SendOp> sends_;   // op lists reused by every call
  std::vector<RecvOp> recvs_;
};

}  // namespace shoal::comm
