// Files written by an independent implementation, llama.cpp's gguf-py (testdata/make_golden.py):
// the reader must see exactly the values the script wrote, the Writer must reproduce the file
// byte for byte, and gguf-py's split set must open from any part.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "format/gguf.h"

namespace shoal::gguf {
namespace {

std::string TestData(const std::string& name) {
  const char* root = std::getenv("SHOAL_SOURCE_DIR");
  if (root) return std::string(root) + "/src/format/testdata/" + name;
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/testdata/" + name;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

void ExpectScriptValues(const Metadata& md) {
  EXPECT_EQ(*md.GetString("general.architecture"), "test");
  EXPECT_EQ(md.Find("t.u8")->type, ValueType::kUint8);
  EXPECT_EQ(*md.GetUint("t.u8"), 200u);
  EXPECT_EQ(md.Find("t.i8")->type, ValueType::kInt8);
  EXPECT_EQ(*md.GetInt("t.i8"), -100);
  EXPECT_EQ(*md.GetUint("t.u16"), 60000u);
  EXPECT_EQ(*md.GetInt("t.i16"), -30000);
  EXPECT_EQ(*md.GetUint("t.u32"), 4000000000u);
  EXPECT_EQ(*md.GetInt("t.i32"), -2000000000);
  EXPECT_EQ(*md.GetUint("t.u64"), UINT64_MAX);
  EXPECT_EQ(*md.GetInt("t.i64"), INT64_MIN);
  EXPECT_EQ(md.Find("t.f32")->type, ValueType::kFloat32);
  EXPECT_EQ(*md.GetFloat("t.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(*md.GetFloat("t.f64"), -2.5e-300);
  EXPECT_TRUE(*md.GetBool("t.bool"));
  EXPECT_EQ(*md.GetString("t.str"), "h\xc3\xa9llo");
  EXPECT_EQ(*md.GetStringArray("t.strs"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(*md.GetIntArray("t.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*md.GetFloatArray("t.f32s"), (std::vector<float>{0.5f, -1.25f}));
  const Array& nested = std::get<Array>(md.Find("t.nested")->v);
  ASSERT_EQ(nested.elem_type, ValueType::kArray);
  ASSERT_EQ(nested.items.size(), 2u);
  const Array& first = std::get<Array>(nested.items[0].v);
  EXPECT_EQ(first.elem_type, ValueType::kInt32);
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(first.items[1].v), 2);
}

void ExpectScriptTensors(const File& f) {
  ASSERT_EQ(f.tensors().size(), 4u);
  const TensorInfo* a = f.FindTensor("f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{4, 3}));  // numpy (3, 4): ne[0] is the row
  float x[12];
  std::memcpy(x, a->data, sizeof(x));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(x[i], static_cast<float>(i));
  EXPECT_EQ(f.FindTensor("f16")->type, DType::kF16);
  EXPECT_EQ(f.FindTensor("f16")->bytes, 12u);
  const TensorInfo* q = f.FindTensor("q8");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::kQ8_0);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{32, 2}));
  ASSERT_EQ(q->bytes, 68u);
  for (size_t i = 0; i < 68; ++i) EXPECT_EQ(q->data[i], i);
  const TensorInfo* b = f.FindTensor("i8");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, DType::kI8);
  EXPECT_EQ(static_cast<int8_t>(b->data[2]), -3);
}

TEST(GgufGolden, ReadsGgufPyFile) {
  auto f = File::Open(TestData("golden.gguf"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->version(), 3u);
  ExpectScriptValues((*f)->metadata());
  ExpectScriptTensors(**f);
}

TEST(GgufGolden, WriterReproducesGgufPyFileByteForByte) {
  const std::string path = TestData("golden.gguf");
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  Writer w((*f)->alignment());
  for (const auto& [k, v] : (*f)->metadata().entries()) w.metadata().Set(k, v);
  for (const TensorInfo& t : (*f)->tensors()) {
    ASSERT_TRUE(w.AddTensor(t.name, t.type, t.shape, t.data, t.bytes).ok());
  }
  EXPECT_EQ(w.Serialize(), ReadAll(path));
}

TEST(GgufGolden, OpensGgufPySplitSetFromAnyPart) {
  for (int part = 0; part < 2; ++part) {
    auto f = File::Open(SplitPath(TestData("golden_split"), part, 2));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->n_splits(), 2u);
    ExpectScriptValues((*f)->metadata());
    ExpectScriptTensors(**f);
    EXPECT_EQ((*f)->FindTensor("f16")->split, 0);
    EXPECT_EQ((*f)->FindTensor("q8")->split, 1);
    EXPECT_EQ(*(*f)->metadata().GetInt("split.tensors.count"), 4);
  }
}

TEST(GgufGolden, WriteSplitMatchesGgufPyLayout) {
  // Our split writer, given the same metadata and tensors, writes the same two files.
  auto f = File::Open(TestData("golden.gguf"));
  ASSERT_TRUE(f.ok());
  Writer w;
  for (const auto& [k, v] : (*f)->metadata().entries()) w.metadata().Set(k, v);
  for (const TensorInfo& t : (*f)->tensors()) {
    ASSERT_TRUE(w.AddTensor(t.name, t.type, t.shape, t.data, t.bytes).ok());
  }
  std::string dir = ::testing::TempDir() + "gguf_golden_split_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  ASSERT_TRUE(w.WriteSplit(dir + "/s", 2).ok());
  for (int part = 0; part < 2; ++part) {
    EXPECT_EQ(ReadAll(SplitPath(dir + "/s", part, 2)),
              ReadAll(SplitPath(TestData("golden_split"), part, 2)))
        << "part " << part;
    std::remove(SplitPath(dir + "/s", part, 2).c_str());
  }
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace shoal::gguf
