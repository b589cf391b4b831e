// The weights a node keeps between jobs: the kept model comes back only for the same shard of the
// same model, and what it holds in copies of its own (column slices) counts as memory to offer.
#include "cluster/shard_keeper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "model/generate.h"

namespace shoal::cluster {
namespace {

namespace fs = std::filesystem;

class ShardKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmp = (fs::temp_directory_path() / "shoal-keeper-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
    dir_ = tmp;
    spec_.type = DType::kF32;  // f32 is never repacked: only column slices are copies
    path_ = dir_ + "/m.gguf";
    ASSERT_TRUE(model::GenerateModel(spec_, path_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<model::Model> Load(const std::optional<model::Shard>& shard) {
    model::LoadOptions o;
    o.shard = shard;
    auto m = model::Model::Load(path_, o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  // The second of two ranks splitting heads and FFN columns in half.
  model::Shard Half(const model::ModelConfig& c) const {
    model::Shard s = model::Shard::Whole(c);
    s.heads = {c.n_head / 2, c.n_head};
    s.kv_heads = {c.n_head_kv / 2, c.n_head_kv};
    s.ff = {c.n_ff / 2, c.n_ff};
    s.vocab = {c.n_vocab / 2, c.n_vocab};
    return s;
  }

  std::string dir_, path_;
  model::GenSpec spec_;
};

TEST_F(ShardKeeperTest, CopiedBytesAreTheColumnSlices) {
  auto whole = Load(std::nullopt);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->copied_bytes(), 0u);  // every f32 matrix is used in place from the mmap
  const model::ModelConfig c = whole->config();
  auto half = Load(Half(c));
  ASSERT_NE(half, nullptr);
  // Column slices (copies): attn_output [n_embd][heads * head_dim] and ffn_down [n_embd][ff];
  // row slices (wq, wk, wv, gate, up, the vocabulary's rows) stay in the mmap.
  const uint64_t head_dim = uint64_t(c.n_embd / c.n_head);
  const uint64_t per_layer = uint64_t(c.n_embd) * (uint64_t(c.n_head / 2) * head_dim) * 4 +
                             uint64_t(c.n_embd) * uint64_t(c.n_ff / 2) * 4;
  EXPECT_EQ(half->copied_bytes(), per_layer * uint64_t(c.n_layer));
}

TEST_F(ShardKeeperTest, GivesBackOnlyTheSameShardOfTheSameModel) {
  auto whole = Load(std::nullopt);
  ASSERT_NE(whole, nullptr);
  const model::ModelConfig c = whole->config();
  const gguf::Digest id{1, 2}, other{3, 4};
  ShardKeeper k;
  EXPECT_EQ(k.Take(id, Half(c)), nullptr);  // nothing kept
  auto half = Load(Half(c));
  ASSERT_NE(half, nullptr);
  const model::Model* kept = half.get();
  const uint64_t copied = half->copied_bytes();
  ASSERT_GT(copied, 0u);
  k.Keep(id, std::move(half));
  EXPECT_EQ(k.held_bytes(), copied);
  EXPECT_TRUE(k.Holds(id, Half(c)));
  EXPECT_FALSE(k.Holds(other, Half(c)));
  EXPECT_FALSE(k.Holds(id, model::Shard::Whole(c)));
  auto back = k.Take(id, Half(c));
  EXPECT_EQ(back.get(), kept);  // the same weights, not a new load
  EXPECT_EQ(k.held_bytes(), 0u);
  // Another model, or another shard: nothing comes back and what was kept is released.
  k.Keep(id, std::move(back));
  EXPECT_EQ(k.Take(other, Half(c)), nullptr);
  EXPECT_EQ(k.held_bytes(), 0u);
  EXPECT_FALSE(k.Holds(id, Half(c)));
  k.Keep(id, Load(Half(c)));
  EXPECT_EQ(k.Take(id, model::Shard::Whole(c)), nullptr);
  EXPECT_EQ(k.held_bytes(), 0u);
  k.Keep(id, Load(Half(c)));
  k.Release();
  EXPECT_FALSE(k.Holds(id, Half(c)));
}

}  // namespace
}  // namespace shoal::cluster
