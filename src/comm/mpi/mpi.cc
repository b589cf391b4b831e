#include "comm/mpi/mpi.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <vector>

#include "comm/peer_group.h"

namespace shoal::comm::mpi {
namespace {

std::mutex g_mu;

std::string MpiError(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, len);
}

constexpr size_t kPieceBytes = size_t{1} << 30;  // MPI counts are int: big messages go in pieces

class MpiPeerIo : public PeerIo {
 public:
  MpiPeerIo(MPI_Comm comm, int rank, int size, std::vector<std::string> hosts)
      : comm_(comm), rank_(rank), size_(size), hosts_(std::move(hosts)) {}
  ~MpiPeerIo() override { MPI_Comm_free(&comm_); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string PeerName(int peer) const override {
    return "rank " + std::to_string(peer) + " (mpi, " + hosts_[peer] + ")";
  }
  MPI_Comm comm() const { return comm_; }

  Status Exchange(Op op, std::span<const SendOp> sends, std::span<const RecvOp> recvs) override {
    reqs_.clear();
    recv_req_.clear();
    const int tag = static_cast<int>(op);
    for (const RecvOp& r : recvs) {
      size_t at = 0;
      do {  // one request per piece; a zero-byte message is one empty piece
        const size_t m = std::min(kPieceBytes, r.bytes - at);
        reqs_.emplace_back();
        recv_req_.push_back({r.peer, static_cast<int>(m)});
        const int rc = MPI_Irecv(static_cast<uint8_t*>(r.data) + at, static_cast<int>(m), MPI_BYTE,
                                 r.peer, tag, comm_, &reqs_.back());
        if (rc != MPI_SUCCESS) return Fail(op, r.peer, rc);
        at += m;
      } while (at < r.bytes);
    }
    const size_t n_recv = reqs_.size();
    for (const SendOp& s : sends) {
      size_t at = 0;
      do {
        const size_t m = std::min(kPieceBytes, s.bytes - at);
        reqs_.emplace_back();
        const int rc = MPI_Isend(static_cast<const uint8_t*>(s.data) + at, static_cast<int>(m),
                                 MPI_BYTE, s.peer, tag, comm_, &reqs_.back());
        if (rc != MPI_SUCCESS) return Fail(op, s.peer, rc);
        at += m;
      } while (at < s.bytes);
    }
    statuses_.resize(reqs_.size());
    const int rc = MPI_Waitall(static_cast<int>(reqs_.size()), reqs_.data(), statuses_.data());
    if (rc != MPI_SUCCESS) return Fail(op, recvs.empty() ? sends[0].peer : recvs[0].peer, rc);
    for (size_t i = 0; i < n_recv; ++i) {
      int got = 0;
      MPI_Get_count(&statuses_[i], MPI_BYTE, &got);
      if (got != recv_req_[i].second) {
        return Corrupt(std::string(OpName(op)) + " with " + PeerName(recv_req_[i].first) +
                       ": sent " + std::to_string(got) + " bytes where " +
                       std::to_string(recv_req_[i].second) + " were expected");
      }
    }
    return Status::Ok();
  }

  Status Fail(Op op, int peer, int rc) const {
    return Unavailable(std::string(OpName(op)) + " with " + PeerName(peer) + ": " + MpiError(rc));
  }

 private:
  MPI_Comm comm_;
  int rank_, size_;
  std::vector<std::string> hosts_;
  std::vector<MPI_Request> reqs_;
  std::vector<MPI_Status> statuses_;
  std::vector<std::pair<int, int>> recv_req_;  // (peer, bytes) per receive request
};

bool FitsInt(size_t v) { return v <= static_cast<size_t>(INT_MAX); }

class MpiGroup : public PeerGroup {
 public:
  explicit MpiGroup(MpiPeerIo* io) : PeerGroup(std::unique_ptr<PeerIo>(io), "mpi"), mpi_(io) {}

  Status AllGatherV(const void* in, void* out, std::span<const size_t> sizes) override {
    std::vector<int> counts, displs;
    if (!Counts(sizes, &counts, &displs)) return PeerGroup::AllGatherV(in, out, sizes);
    const void* send = in == static_cast<uint8_t*>(out) + displs[rank()] ? MPI_IN_PLACE : in;
    return Check(MPI_Allgatherv(send, counts[rank()], MPI_BYTE, out, counts.data(), displs.data(),
                                MPI_BYTE, mpi_->comm()),
                 "all-gather");
  }
  Status GatherV(const void* in, void* out, std::span<const size_t> sizes, int root) override {
    std::vector<int> counts, displs;
    SHOAL_RETURN_IF_ERROR(CheckPeerArg(root, "gather root"));
    if (!Counts(sizes, &counts, &displs)) return PeerGroup::GatherV(in, out, sizes, root);
    const bool in_place = rank() == root && in == static_cast<uint8_t*>(out) + displs[root];
    return Check(MPI_Gatherv(in_place ? MPI_IN_PLACE : in, counts[rank()], MPI_BYTE, out,
                             counts.data(), displs.data(), MPI_BYTE, root, mpi_->comm()),
                 "gather");
  }
  Status Broadcast(void* data, size_t bytes, int root) override {
    SHOAL_RETURN_IF_ERROR(CheckPeerArg(root, "broadcast root"));
    if (!FitsInt(bytes)) return PeerGroup::Broadcast(data, bytes, root);
    return Check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, mpi_->comm()),
                 "broadcast");
  }
  Status Barrier() override { return Check(MPI_Barrier(mpi_->comm()), "barrier"); }

 private:
  bool Counts(std::span<const size_t> sizes, std::vector<int>* counts, std::vector<int>* displs) {
    if (sizes.size() != static_cast<size_t>(size())) return false;  // PeerGroup reports it
    size_t total = 0;
    for (size_t s : sizes) {
      if (!FitsInt(s) || !FitsInt(total + s)) return false;
      counts->push_back(static_cast<int>(s));
      displs->push_back(static_cast<int>(total));
      total += s;
    }
    return true;
  }
  Status Check(int rc, const char* what) {
    if (!broken_.ok()) return broken_;
    if (rc != MPI_SUCCESS) broken_ = Unavailable(std::string("mpi ") + what + ": " + MpiError(rc));
    return broken_;
  }
  MpiPeerIo* mpi_;  // owned by PeerGroup
};

}  // namespace

bool Available() { return true; }

StatusOr<std::unique_ptr<Group>> FromEnvironment() {
  std::lock_guard<std::mutex> lock(g_mu);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) return Unavailable("mpi: MPI was already finalized in this process");
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
      return Unavailable("mpi: MPI_Init_thread failed");
    }
    std::atexit([] {
      int fin = 0;
      MPI_Finalized(&fin);
      if (!fin) MPI_Finalize();
    });
  }
  MPI_Comm comm;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS) {
    return Unavailable("mpi: MPI_Comm_dup failed");
  }
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(static_cast<size_t>(size) * MPI_MAX_PROCESSOR_NAME);
  MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                MPI_CHAR, comm);
  std::vector<std::string> hosts(size);
  for (int r = 0; r < size; ++r) {
    const char* p = all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    hosts[r] = std::string(p, strnlen(p, MPI_MAX_PROCESSOR_NAME));
  }
  return std::unique_ptr<Group>(new MpiGroup(new MpiPeerIo(comm, rank, size, std::move(hosts))));
}

}  // namespace shoal::comm::mpi
