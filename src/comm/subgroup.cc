#include "comm/subgroup.h"

#include <cstring>
#include <string>

namespace shoal::comm {
namespace {

float Bf16ToF32(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t F32ToBf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);  // NaN stays NaN
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

}  // namespace

StatusOr<std::unique_ptr<SubGroup>> SubGroup::Create(Group& parent, std::vector<int> members) {
  int me = -1;
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] < 0 || members[i] >= parent.size() || (i > 0 && members[i] <= members[i - 1])) {
      return InvalidArgument("subgroup members must be ascending ranks of the parent group");
    }
    if (members[i] == parent.rank()) me = int(i);
  }
  if (me < 0) return InvalidArgument("this rank is not a member of the subgroup");
  return std::unique_ptr<SubGroup>(new SubGroup(parent, std::move(members), me));
}

Status SubGroup::Send(int peer, const void* data, size_t bytes) {
  return parent_.Send(members_[peer], data, bytes);
}

Status SubGroup::Recv(int peer, void* data, size_t bytes) {
  return parent_.Recv(members_[peer], data, bytes);
}

template <typename Fn>
Status SubGroup::Pairwise(Fn&& fn) {
  const int n = size();
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      if (a == me_) SHOAL_RETURN_IF_ERROR(fn(b, /*send_first=*/true));
      if (b == me_) SHOAL_RETURN_IF_ERROR(fn(a, /*send_first=*/false));
    }
  }
  return Status::Ok();
}

Status SubGroup::AllReduceSum(void* data, size_t count, ElemType type, Algorithm) {
  const int n = size();
  if (n == 1 || count == 0) return Status::Ok();
  const size_t elem = type == ElemType::kF32 ? 4 : 2, bytes = count * elem;
  inbox_.resize(size_t(n));
  for (auto& b : inbox_) b.resize(bytes);
  std::memcpy(inbox_[size_t(me_)].data(), data, bytes);
  SHOAL_RETURN_IF_ERROR(Pairwise([&](int peer, bool send_first) -> Status {
    if (send_first) SHOAL_RETURN_IF_ERROR(Send(peer, data, bytes));
    SHOAL_RETURN_IF_ERROR(Recv(peer, inbox_[size_t(peer)].data(), bytes));
    if (!send_first) SHOAL_RETURN_IF_ERROR(Send(peer, data, bytes));
    return Status::Ok();
  }));
  if (type == ElemType::kF32) {
    float* out = static_cast<float*>(data);
    for (size_t i = 0; i < count; ++i) {
      float s = 0;
      for (int r = 0; r < n; ++r) s += reinterpret_cast<const float*>(inbox_[size_t(r)].data())[i];
      out[i] = s;
    }
  } else {
    uint16_t* out = static_cast<uint16_t*>(data);
    for (size_t i = 0; i < count; ++i) {
      float s = 0;
      for (int r = 0; r < n; ++r) {
        s += Bf16ToF32(reinterpret_cast<const uint16_t*>(inbox_[size_t(r)].data())[i]);
      }
      out[i] = F32ToBf16(s);
    }
  }
  return Status::Ok();
}

Status SubGroup::AllGatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank) {
  const int n = size();
  if (bytes_per_rank.size() != size_t(n)) return InvalidArgument("AllGatherV: sizes per rank");
  std::vector<size_t> offset(size_t(n) + 1, 0);
  for (int r = 0; r < n; ++r) offset[r + 1] = offset[r] + bytes_per_rank[r];
  uint8_t* o = static_cast<uint8_t*>(out);
  std::memmove(o + offset[me_], in, bytes_per_rank[me_]);
  return Pairwise([&](int peer, bool send_first) -> Status {
    if (send_first) SHOAL_RETURN_IF_ERROR(Send(peer, o + offset[me_], bytes_per_rank[me_]));
    SHOAL_RETURN_IF_ERROR(Recv(peer, o + offset[peer], bytes_per_rank[peer]));
    if (!send_first) SHOAL_RETURN_IF_ERROR(Send(peer, o + offset[me_], bytes_per_rank[me_]));
    return Status::Ok();
  });
}

Status SubGroup::GatherV(const void* in, void* out, std::span<const size_t> bytes_per_rank,
                         int root) {
  const int n = size();
  if (bytes_per_rank.size() != size_t(n)) return InvalidArgument("GatherV: sizes per rank");
  if (me_ != root) return Send(root, in, bytes_per_rank[me_]);
  uint8_t* o = static_cast<uint8_t*>(out);
  size_t at = 0;
  for (int r = 0; r < n; ++r) {
    if (r == me_) {
      std::memmove(o + at, in, bytes_per_rank[r]);
    } else {
      SHOAL_RETURN_IF_ERROR(Recv(r, o + at, bytes_per_rank[r]));
    }
    at += bytes_per_rank[r];
  }
  return Status::Ok();
}

Status SubGroup::Broadcast(void* data, size_t bytes, int root) {
  if (me_ != root) return Recv(root, data, bytes);
  for (int r = 0; r < size(); ++r) {
    if (r != me_) SHOAL_RETURN_IF_ERROR(Send(r, data, bytes));
  }
  return Status::Ok();
}

Status SubGroup::Barrier() {
  uint8_t token = 0;
  return Pairwise([&](int peer, bool send_first) -> Status {
    if (send_first) {
      SHOAL_RETURN_IF_ERROR(Send(peer, &token, 1));
      return Recv(peer, &token, 1);
    }
    SHOAL_RETURN_IF_ERROR(Recv(peer, &token, 1));
    return Send(peer, &token, 1);
  });
}

}  // namespace shoal::comm
