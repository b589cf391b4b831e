// Rank 0's shard shipping reports its progress per node: every requesting node's total before
// any byte is sent, then the bytes sent after each chunk, ending at the bytes the node received
// (the ranges its cache entry's manifest lists, read back from disk).
#include "cluster/transfer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <tuple>
#include <vector>

#include "comm/loopback/loopback.h"
#include "model/generate.h"

namespace shoal::cluster {
namespace {

namespace fs = std::filesystem;

TEST(Transfer, ReportsBytesSentPerNode) {
  std::string tmp = (fs::temp_directory_path() / "shoal-transfer-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
  model::GenSpec spec;  // about 17 MiB of weights: several 4 MiB chunks
  spec.n_embd = 512;
  spec.n_ff = 2048;
  spec.n_head = 8;
  spec.n_head_kv = 4;
  const std::string path = tmp + "/m.gguf";
  ASSERT_TRUE(model::GenerateModel(spec, path).ok());
  auto file = gguf::File::Open(path);
  ASSERT_TRUE(file.ok());
  auto config = model::ParseConfig((*file)->metadata(), file->get());
  ASSERT_TRUE(config.ok());
  const model::Shard whole = model::Shard::Whole(*config);

  auto groups = comm::MakeLoopbackGroups(3, /*io_timeout_ms=*/20000);
  // Rank 1 has no copy and asks for its shard; rank 2 has the model.
  StatusOr<std::string> got1 = std::string("unset"), got2 = std::string("unset");
  Status recv1, recv2;
  std::vector<std::thread> ts;
  for (int r : {1, 2}) {
    ts.emplace_back([&, r] {
      ReceiveOptions o;
      o.room_bytes = r == 1 ? uint64_t{1} << 30 : 0;
      o.cache_dir = tmp + "/cache" + std::to_string(r);
      o.model_id = {1, 2};
      o.part_bytes = {(*file)->SplitBytes(0).size()};
      (r == 1 ? recv1 : recv2) = ReceiveShard(*groups[size_t(r)], o, r == 1 ? &got1 : &got2);
    });
  }
  std::vector<std::tuple<int, uint64_t, uint64_t>> calls;
  Status sent = SendShards(
      *groups[0], **file, *config, {whole, whole, whole},
      [&](int rank, uint64_t done, uint64_t total) { calls.emplace_back(rank, done, total); });
  for (std::thread& t : ts) t.join();
  ASSERT_TRUE(sent.ok()) << sent.ToString();
  ASSERT_TRUE(recv1.ok()) << recv1.ToString();
  ASSERT_TRUE(recv2.ok()) << recv2.ToString();
  ASSERT_TRUE(got1.ok()) << got1.status().ToString();

  // The reference: the ranges rank 1's cache entry holds.
  auto manifest = VerifyEntry(fs::path(*got1).parent_path().string());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  uint64_t received = 0;
  for (const ByteRange& br : manifest->ranges) received += br.bytes;
  ASSERT_GT(received, uint64_t{8} << 20);

  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls.front(), std::make_tuple(1, uint64_t{0}, received));
  EXPECT_EQ(calls.back(), std::make_tuple(1, received, received));
  const size_t chunks = size_t((received + (uint64_t{4} << 20) - 1) / (uint64_t{4} << 20));
  EXPECT_EQ(calls.size(), 1 + chunks);
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_EQ(std::get<0>(calls[i]), 1);  // never rank 2, which asked for nothing
    EXPECT_GT(std::get<1>(calls[i]), std::get<1>(calls[i - 1]));
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace shoal::cluster
