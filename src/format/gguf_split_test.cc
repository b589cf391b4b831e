// Split sets: names, writing, opening through any part, and broken sets.
#include <gtest/gtest.h>

#include <filesystem>

#include "format/gguf.h"
#include "format/gguf_test_util.h"

namespace shoal::gguf {
namespace {

using testing::TempDir;

TEST(GgufSplit, Names) {
  EXPECT_EQ(SplitPath("/m/model", 1, 3), "/m/model-00002-of-00003.gguf");
  auto n = ParseSplitPath("/m/model-q4-00002-of-00003.gguf");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->prefix, "/m/model-q4");
  EXPECT_EQ(n->index, 1);
  EXPECT_EQ(n->count, 3);
  EXPECT_FALSE(ParseSplitPath("/m/model.gguf").has_value());
  EXPECT_FALSE(ParseSplitPath("/m/model-00004-of-00003.gguf").has_value());
  EXPECT_FALSE(ParseSplitPath("/m/model-00000-of-00003.gguf").has_value());
  EXPECT_FALSE(ParseSplitPath("/m/model-0000x-of-00003.gguf").has_value());
  EXPECT_FALSE(ParseSplitPath("-of-.gguf").has_value());
  EXPECT_FALSE(ParseSplitPath("model-00001-of-00003.bin").has_value());
}

struct SplitSet {
  Writer w{64};
  std::vector<std::vector<float>> datas;
  SplitSet() {
    w.metadata().Set("general.architecture", Value::Str("llama"));
    w.metadata().Set("llama.block_count", Value::U32(7));
    for (int i = 0; i < 7; ++i) {
      std::vector<float> d(static_cast<size_t>(16 * (i + 1)));
      for (size_t k = 0; k < d.size(); ++k) d[k] = static_cast<float>(i * 1000 + k);
      datas.push_back(d);
      std::string name = "blk.";
      name += std::to_string(i);
      name += ".w";
      EXPECT_TRUE(w.AddTensor(name, DType::kF32, {16, i + 1}, d.data(), d.size() * 4).ok());
    }
  }
};

TEST(GgufSplit, WriteThreePartsOpenTheMiddleOne) {
  TempDir dir;
  SplitSet set;
  const std::string prefix = dir / "model";
  ASSERT_TRUE(set.w.WriteSplit(prefix, 3).ok());  // 3 + 3 + 1 tensors
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(std::filesystem::exists(SplitPath(prefix, i, 3)));
  EXPECT_FALSE(std::filesystem::exists(SplitPath(prefix, 3, 4)));

  auto f = File::Open(SplitPath(prefix, 1, 3));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const File& file = **f;
  EXPECT_EQ(file.n_splits(), 3u);
  EXPECT_EQ(file.paths()[0], SplitPath(prefix, 0, 3));
  EXPECT_EQ(*file.metadata().GetString("general.architecture"), "llama");
  EXPECT_EQ(*file.metadata().GetUint("split.count"), 3u);
  EXPECT_EQ(*file.metadata().GetInt("split.tensors.count"), 7);
  EXPECT_EQ(file.alignment(), 64u);
  ASSERT_EQ(file.tensors().size(), 7u);
  for (int i = 0; i < 7; ++i) {
    const TensorInfo& t = file.tensors()[static_cast<size_t>(i)];
    EXPECT_EQ(t.split, i / 3);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{16, i + 1}));
    ASSERT_EQ(t.bytes, set.datas[static_cast<size_t>(i)].size() * 4);
    EXPECT_EQ(std::memcmp(t.data, set.datas[static_cast<size_t>(i)].data(), t.bytes), 0);
    EXPECT_EQ(file.FindTensor(t.name), &t);
  }
  uint64_t total = 0;
  for (const std::string& p : file.paths()) total += std::filesystem::file_size(p);
  EXPECT_EQ(file.total_file_bytes(), total);

  // Each part parses alone too; the later parts carry only the split keys.
  auto part3 = File::Open(SplitPath(prefix, 2, 3));
  ASSERT_TRUE(part3.ok());
  EXPECT_EQ((*part3)->tensors().size(), 7u);
}

TEST(GgufSplit, OneTensorPerFileAndSingleFileSplit) {
  TempDir dir;
  SplitSet set;
  ASSERT_TRUE(set.w.WriteSplit(dir / "a", 1).ok());
  auto f = File::Open(SplitPath(dir / "a", 6, 7));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->n_splits(), 7u);
  EXPECT_EQ((*f)->tensors().back().split, 6);
  // Everything in one part: an ordinary file with split keys.
  ASSERT_TRUE(set.w.WriteSplit(dir / "b", 100).ok());
  auto g = File::Open(SplitPath(dir / "b", 0, 1));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->n_splits(), 1u);
  EXPECT_EQ((*g)->tensors().size(), 7u);
  EXPECT_EQ(set.w.WriteSplit(dir / "c", 0).code(), StatusCode::kInvalidArgument);
}

TEST(GgufSplit, MissingPartIsNotFoundNamingTheFile) {
  TempDir dir;
  SplitSet set;
  ASSERT_TRUE(set.w.WriteSplit(dir / "m", 3).ok());
  std::filesystem::remove(SplitPath(dir / "m", 2, 3));
  auto f = File::Open(SplitPath(dir / "m", 0, 3));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("part 3 of 3 is missing: " + SplitPath(dir / "m", 2, 3)),
            std::string::npos)
      << f.status().ToString();
}

TEST(GgufSplit, InconsistentSetsAreCorrupt) {
  TempDir dir;
  SplitSet set;
  // Part files renamed out of order: split.no disagrees with the position.
  ASSERT_TRUE(set.w.WriteSplit(dir / "m", 3).ok());
  std::filesystem::rename(SplitPath(dir / "m", 1, 3), dir / "tmp");
  std::filesystem::rename(SplitPath(dir / "m", 2, 3), SplitPath(dir / "m", 1, 3));
  std::filesystem::rename(dir / "tmp", SplitPath(dir / "m", 2, 3));
  auto f = File::Open(SplitPath(dir / "m", 0, 3));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(f.status().message().find("split.no is 2, want 1"), std::string::npos)
      << f.status().ToString();

  // A part of a set under a name that does not follow the convention.
  ASSERT_TRUE(set.w.WriteSplit(dir / "n", 3).ok());
  std::filesystem::rename(SplitPath(dir / "n", 0, 3), dir / "renamed.gguf");
  auto g = File::Open(dir / "renamed.gguf");
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);

  // A part from another set: split.count disagrees.
  ASSERT_TRUE(set.w.WriteSplit(dir / "p", 3).ok());
  ASSERT_TRUE(set.w.WriteSplit(dir / "q", 2).ok());  // 4 parts: 2+2+2+1
  std::filesystem::copy_file(SplitPath(dir / "q", 1, 4), SplitPath(dir / "p", 1, 3),
                             std::filesystem::copy_options::overwrite_existing);
  auto h = File::Open(SplitPath(dir / "p", 0, 3));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("split.count is 4, want 3"), std::string::npos)
      << h.status().ToString();

  // split.tensors.count disagrees with the tensors found.
  Writer w;
  w.metadata().Set("split.no", Value::U16(0));
  w.metadata().Set("split.count", Value::U16(2));
  w.metadata().Set("split.tensors.count", Value::I32(5));
  ASSERT_TRUE(w.Write(SplitPath(dir / "r", 0, 2)).ok());
  Writer w2;
  w2.metadata().Set("split.no", Value::U16(1));
  w2.metadata().Set("split.count", Value::U16(2));
  ASSERT_TRUE(w2.Write(SplitPath(dir / "r", 1, 2)).ok());
  auto r = File::Open(SplitPath(dir / "r", 1, 2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("split.tensors.count is 5"), std::string::npos)
      << r.status().ToString();
}

TEST(GgufSplit, DuplicateTensorAcrossParts) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    Writer w;
    w.metadata().Set("split.no", Value::U16(static_cast<uint16_t>(i)));
    w.metadata().Set("split.count", Value::U16(2));
    float x = 1;
    ASSERT_TRUE(w.AddTensor("same", DType::kF32, {1}, &x, 4).ok());
    ASSERT_TRUE(w.Write(SplitPath(dir / "d", i, 2)).ok());
  }
  auto f = File::Open(SplitPath(dir / "d", 0, 2));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("duplicate tensor name (also in part 1)"), std::string::npos)
      << f.status().ToString();
}

}  // namespace
}  // namespace shoal::gguf
