// Run under mpirun (ctest comm_mpi): three ranks check the MPI backend's collectives against the
// same references as the other backends. Exit 0 ok, 1 failure, 77 built without MPI.
#include <cstdio>
#include <cstring>
#include <vector>

#include "comm/mpi/mpi.h"
#include "comm/test_util.h"

using namespace shoal;
using namespace shoal::comm;

#define CHECK_OK(expr)                                                                \
  do {                                                                                \
    Status s_ = (expr);                                                               \
    if (!s_.ok()) {                                                                   \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, s_.ToString().c_str()); \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)
#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                               \
    }                                                                         \
  } while (0)

int main() {
  if (!mpi::Available()) {
    std::printf("built without MPI: skipped\n");
    return 77;
  }
  auto g = mpi::FromEnvironment();
  CHECK_OK(g.status());
  Group& group = **g;
  const int n = group.size(), me = group.rank();
  CHECK(group.backend() == "mpi");
  for (size_t count : {size_t{1}, size_t{7168}, size_t{1} << 18}) {
    for (Algorithm algo : {Algorithm::kDirect, Algorithm::kRing}) {
      std::vector<std::vector<float>> in(n), in16f(n);
      for (int r = 0; r < n; ++r) {
        in[r] = comm::testing::InputF32(r, count);
        auto b = comm::testing::InputBF16(r, count);
        in16f[r].resize(count);
        F32FromBF16(b.data(), count, in16f[r].data());
      }
      std::vector<float> v = in[me];
      std::vector<uint16_t> b = comm::testing::InputBF16(me, count);
      CHECK_OK(group.AllReduceSum(v.data(), count, ElemType::kF32, algo));
      CHECK_OK(group.AllReduceSum(b.data(), count, ElemType::kBF16, algo));
      for (size_t i = 0; i < count; ++i) {
        const float want = comm::testing::RefSum(in, count, i, algo);
        CHECK(std::memcmp(&want, &v[i], 4) == 0);
        CHECK(b[i] == BF16FromF32(comm::testing::RefSum(in16f, count, i, algo)));
      }
    }
  }
  std::vector<size_t> sizes(n);
  for (int r = 0; r < n; ++r) sizes[r] = r == 1 ? 0 : 3 + r;
  size_t total = 0;
  for (int r = 0; r < n; ++r) total += sizes[r];
  std::vector<uint8_t> mine(sizes[me], static_cast<uint8_t>(me + 1)), all(total), want;
  for (int r = 0; r < n; ++r) want.insert(want.end(), sizes[r], static_cast<uint8_t>(r + 1));
  CHECK_OK(group.AllGatherV(mine.data(), all.data(), sizes));
  CHECK(all == want);
  std::vector<uint8_t> gathered(total);
  CHECK_OK(group.GatherV(mine.data(), me == 0 ? gathered.data() : nullptr, sizes, 0));
  if (me == 0) CHECK(gathered == want);
  int x = me == n - 1 ? 1234 : 0;
  CHECK_OK(group.Broadcast(&x, sizeof x, n - 1));
  CHECK(x == 1234);
  CHECK_OK(group.Barrier());
  if (n > 1) {
    int token = 99;
    if (me == 0) CHECK_OK(group.Send(1, &token, sizeof token));
    if (me == 1) {
      token = 0;
      CHECK_OK(group.Recv(0, &token, sizeof token));
      CHECK(token == 99);
    }
  }
  std::printf("mpi rank %d of %d: ok (%s)\n", me, n, group.PeerName(me).c_str());
  return 0;
}
