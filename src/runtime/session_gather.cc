// The end of a pooled forward pass (session.cc): the logits rows gathered on rank 0, each rank's
// followed by its step-time trailer (runtime/step_times.h), and the step's accounting.
#include <algorithm>
#include <cstring>
#include <string>

#include "runtime/session.h"

namespace shoal::runtime {
namespace {

int64_t Ns(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

void Session::BeginPass() {
  pass_start_ = std::chrono::steady_clock::now();
  pass_comm0_ns_ = comm_ns_.load(std::memory_order_relaxed);
}

void Session::EndPass(bool last) {
  const int64_t wall = Ns(std::chrono::steady_clock::now() - pass_start_);
  const int64_t comm = comm_ns_.load(std::memory_order_relaxed) - pass_comm0_ns_;
  step_compute_ns_ += std::max<int64_t>(0, wall - comm);
  ++step_passes_;
  if (!last) step_wall_ns_ += wall;
}

void Session::EndStep() {
  std::vector<double> compute(size_t(step_times_.n_ranks()), 0.0);
  compute[0] = double(step_compute_ns_) / 1e6;
  const double wall = double(step_wall_ns_ + Ns(std::chrono::steady_clock::now() - pass_start_));
  step_times_.Record(compute, wall / 1e6);
  step_compute_ns_ = step_wall_ns_ = 0;
  step_passes_ = 0;
}

Status Session::GatherLogits(float* local, int64_t n_out, float* logits) {
  const model::ModelConfig& c = model_.config();
  const int n_ranks = par_.group->size();
  const int rank = par_.group->rank();
  const size_t trailer = kStepTrailerBytes / sizeof(float);
  // This rank's trailer after its rows: [n_out][n_vocab_local] then 16 bytes.
  const size_t mine = size_t(n_out) * par_.vocab_by_rank[size_t(rank)].size();
  uint8_t t[kStepTrailerBytes];
  PutStepTrailer({step_passes_, uint64_t(step_compute_ns_ / 1000)}, t);
  std::memcpy(local + mine, t, sizeof(t));
  // Gather [rank]([n_out][n_vocab_r], trailer) on rank 0, then lay it out as [n_out][n_vocab].
  std::vector<size_t> bytes(static_cast<size_t>(n_ranks));
  for (int r = 0; r < n_ranks; ++r) {
    bytes[size_t(r)] =
        size_t(n_out) * par_.vocab_by_rank[size_t(r)].size() * sizeof(float) + kStepTrailerBytes;
  }
  const bool root = rank == 0;
  if (root) gathered_.resize(size_t(n_out) * c.n_vocab + size_t(n_ranks) * trailer);
  SHOAL_RETURN_IF_ERROR(
      par_.group->GatherV(local, root ? gathered_.data() : nullptr, bytes, /*root=*/0));
  if (!root) {  // this step's figure is sent: the next starts from zero
    step_compute_ns_ = step_wall_ns_ = 0;
    step_passes_ = 0;
    return Status::Ok();
  }
  std::vector<double> compute(size_t(n_ranks), 0.0);
  const float* src = gathered_.data();
  for (int r = 0; r < n_ranks; ++r) {
    const model::Range v = par_.vocab_by_rank[size_t(r)];
    for (int64_t t = 0; t < n_out; ++t) {
      std::memcpy(logits + t * c.n_vocab + v.begin, src + t * v.size(), v.size() * sizeof(float));
    }
    src += size_t(n_out) * v.size();
    SHOAL_ASSIGN_OR_RETURN(StepTrailer st,
                           GetStepTrailer(reinterpret_cast<const uint8_t*>(src), step_passes_, r));
    compute[size_t(r)] = r == 0 ? double(step_compute_ns_) / 1e6 : double(st.compute_us) / 1e3;
    src += trailer;
  }
  const double wall = double(step_wall_ns_ + Ns(std::chrono::steady_clock::now() - pass_start_));
  step_times_.Record(compute, wall / 1e6);
  step_compute_ns_ = step_wall_ns_ = 0;
  step_passes_ = 0;
  return Status::Ok();
}

}  // namespace shoal::runtime
