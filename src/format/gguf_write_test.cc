// Writer tests: byte layout against a hand-built image, round trips of every value type and of
// tensors of several types and alignments, validation, and atomic writes to disk.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "format/gguf.h"
#include "format/gguf_test_util.h"

namespace shoal::gguf {
namespace {

using testing::Raw;
using testing::SameValue;
using testing::TempDir;

// "t" + std::to_string(i) trips a GCC 12 -Wrestrict false positive.
std::string Name(std::string_view prefix, size_t i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(GgufWrite, LayoutMatchesHandBuiltImage) {
  Writer w;
  w.metadata().Set("general.name", Value::Str("tiny"));
  w.metadata().Set("n", Value::U32(7));
  std::vector<float> a = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<uint8_t> b(34, 0x5a);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {4, 2}, a.data(), 32).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kQ8_0, {32}, b.data(), b.size()).ok());

  Raw r;
  r.Header(3, 2, 2);
  r.Key("general.name", ValueType::kString).Str("tiny");
  r.Key("n", ValueType::kUint32).Pod<uint32_t>(7);
  r.TensorInfo("a", {4, 2}, 0, 0);
  r.TensorInfo("b", {32}, 8, 32);
  r.PadTo(32);
  for (float x : a) r.Pod(x);
  r.Bytes(34, 0x5a).PadTo(32);
  EXPECT_EQ(w.Serialize(), r.b);
}

Metadata EveryType() {
  Metadata md;
  md.Set("u8", Value::U8(255));
  md.Set("i8", Value::I8(-128));
  md.Set("u16", Value::U16(65535));
  md.Set("i16", Value::I16(-32768));
  md.Set("u32", Value::U32(0xffffffffu));
  md.Set("i32", Value::I32(std::numeric_limits<int32_t>::min()));
  md.Set("u64", Value::U64(std::numeric_limits<uint64_t>::max()));
  md.Set("i64", Value::I64(std::numeric_limits<int64_t>::min()));
  md.Set("f32", Value::F32(-0.1f));
  md.Set("f32nan", Value::F32(std::numeric_limits<float>::quiet_NaN()));
  md.Set("f64", Value::F64(1e-300));
  md.Set("f64inf", Value::F64(-std::numeric_limits<double>::infinity()));
  md.Set("true", Value::Bool(true));
  md.Set("false", Value::Bool(false));
  md.Set("str", Value::Str("h\xc3\xa9llo"));
  md.Set("nul", Value::Str(std::string("a\0b\0", 4)));
  md.Set("empty", Value::Str(""));
  md.Set(std::string("key\0with nul", 12), Value::U8(1));
  md.Set("strs", Value::StrArray({"", std::string(1, '\0'), "tok"}));
  md.Set("empty_arr", Value::Arr(ValueType::kFloat64, {}));
  md.Set("bools", Value::Arr(ValueType::kBool, {Value::Bool(true), Value::Bool(false)}));
  md.Set("u16s", Value::Arr(ValueType::kUint16, {Value::U16(1), Value::U16(65535)}));
  md.Set("i64s", Value::Arr(ValueType::kInt64, {Value::I64(-5), Value::I64(INT64_MAX)}));
  md.Set("nested",
         Value::Arr(ValueType::kArray, {Value::StrArray({"x", "y"}),
                                        Value::Arr(ValueType::kArray, {Value::I32Array({})}),
                                        Value::Arr(ValueType::kInt8, {Value::I8(-1)})}));
  std::vector<std::string> many;
  for (int i = 0; i < 50000; ++i) many.push_back(Name("t", i));
  md.Set("big_strs", Value::StrArray(many));
  std::vector<int32_t> ints(300000);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int32_t>(i * 2654435761u);
  md.Set("big_i32", Value::I32Array(ints));
  return md;
}

TEST(GgufWrite, RoundTripEveryValueType) {
  Writer w;
  const Metadata want = EveryType();
  for (const auto& [k, v] : want.entries()) w.metadata().Set(k, v);
  ASSERT_TRUE(w.Check().ok()) << w.Check().ToString();
  const std::vector<uint8_t> image = w.Serialize();
  auto f = File::FromMemory(image.data(), image.size());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Metadata& got = (*f)->metadata();
  ASSERT_EQ(got.entries().size(), want.entries().size());
  for (size_t i = 0; i < want.entries().size(); ++i) {
    EXPECT_EQ(got.entries()[i].first, want.entries()[i].first);
    EXPECT_TRUE(SameValue(got.entries()[i].second, want.entries()[i].second))
        << "key " << want.entries()[i].first;
  }
  EXPECT_EQ(got.GetString("nul")->size(), 4u);
  EXPECT_EQ((*f)->alignment(), kDefaultAlignment);
  EXPECT_FALSE(got.Has("general.alignment"));  // default alignment is not written
}

TEST(GgufWrite, TensorsOfSeveralTypesAndAlignments) {
  struct Case {
    DType type;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases = {
      {DType::kF32, {3, 5}},          {DType::kF16, {7}},         {DType::kBF16, {2, 3, 4}},
      {DType::kQ4_0, {64, 3}},        {DType::kQ8_0, {32, 1, 2}}, {DType::kQ4_K, {256, 2}},
      {DType::kQ6_K, {512, 1, 1, 2}}, {DType::kI8, {1}},          {DType::kMXFP4, {32, 3}},
  };
  for (uint64_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
    Writer w(alignment);
    w.metadata().Set("general.architecture", Value::Str("test"));
    std::vector<std::vector<uint8_t>> datas;
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      int64_t rows = 1;
      for (size_t d = 1; d < c.shape.size(); ++d) rows *= c.shape[d];
      datas.push_back(RandomBytes(RowBytes(c.type, c.shape[0]) * static_cast<size_t>(rows),
                                  static_cast<uint32_t>(i)));
      ASSERT_TRUE(
          w.AddTensor(Name("t", i), c.type, c.shape, datas.back().data(), datas.back().size())
              .ok());
    }
    const std::vector<uint8_t> image = w.Serialize();
    auto f = File::FromMemory(image.data(), image.size());
    ASSERT_TRUE(f.ok()) << alignment << ": " << f.status().ToString();
    EXPECT_EQ((*f)->alignment(), alignment);
    EXPECT_EQ(image.size() % alignment, 0u);
    const uint8_t* data_start = nullptr;
    for (size_t i = 0; i < cases.size(); ++i) {
      const TensorInfo* t = (*f)->FindTensor(Name("t", i));
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->type, cases[i].type);
      EXPECT_EQ(t->shape, cases[i].shape);
      ASSERT_EQ(t->bytes, datas[i].size());
      EXPECT_EQ(std::memcmp(t->data, datas[i].data(), t->bytes), 0) << i;
      EXPECT_EQ(t->offset % alignment, 0u);
      if (i == 0) data_start = t->data;
      EXPECT_EQ(static_cast<uint64_t>(t->data - data_start), t->offset);
      EXPECT_EQ(static_cast<uint64_t>(data_start - image.data()) % alignment, 0u);
    }
  }
}

TEST(GgufWrite, NoTensorsNoPadding) {
  // A metadata-only file needs no data section: a 1 GiB alignment must not cost 1 GiB.
  Writer w(uint64_t{1} << 30);
  w.metadata().Set("k", Value::U8(1));
  const std::vector<uint8_t> image = w.Serialize();
  EXPECT_LT(image.size(), 200u);
  auto f = File::FromMemory(image.data(), image.size());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->alignment(), uint64_t{1} << 30);
}

TEST(GgufWrite, AddTensorValidates) {
  Writer w;
  std::vector<uint8_t> d(1024);
  EXPECT_TRUE(w.AddTensor("ok", DType::kF32, {4}, d.data(), 16).ok());
  EXPECT_EQ(w.AddTensor("ok", DType::kF32, {4}, d.data(), 16).code(),
            StatusCode::kInvalidArgument);  // duplicate
  Status s = w.AddTensor("n", DType::kF32, {4, 2}, d.data(), 16);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("16 bytes of data, want 32"), std::string::npos) << s.ToString();
  EXPECT_FALSE(w.AddTensor("q", DType::kQ4_0, {31}, d.data(), 18).ok());
  EXPECT_FALSE(w.AddTensor("z", DType::kF32, {0}, d.data(), 0).ok());
  EXPECT_FALSE(w.AddTensor("d", DType::kF32, {1, 1, 1, 1, 1}, d.data(), 4).ok());
  EXPECT_FALSE(w.AddTensor("e", DType::kF32, {}, d.data(), 4).ok());
  EXPECT_FALSE(w.AddTensor("", DType::kF32, {1}, d.data(), 4).ok());
  EXPECT_FALSE(w.AddTensor("t", static_cast<DType>(4), {1}, d.data(), 4).ok());
  EXPECT_FALSE(w.AddTensor("big", DType::kF32, {INT64_MAX / 2, 4}, d.data(), 4).ok());
  EXPECT_FALSE(Writer(48).AddTensor("a", DType::kF32, {1}, d.data(), 4).ok());
}

TEST(GgufWrite, CheckRejectsMalformedValues) {
  Writer w;
  w.metadata().Set("bad", Value{ValueType::kUint8, uint64_t{300}});
  EXPECT_EQ(w.Check().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(w.Serialize().empty());
  w.metadata().Set("bad", Value::Arr(ValueType::kString, {Value::Str("a"), Value::U8(1)}));
  EXPECT_NE(w.Check().message().find("bad'[1]"), std::string::npos) << w.Check().ToString();
  w.metadata().Set("bad", Value{ValueType::kString, int64_t{1}});
  EXPECT_FALSE(w.Check().ok());
  Value deep = Value::Arr(ValueType::kUint8, {});
  for (int i = 0; i < kMaxArrayDepth; ++i) deep = Value::Arr(ValueType::kArray, {deep});
  w.metadata().Set("bad", deep);
  EXPECT_FALSE(w.Check().ok());
  w.metadata().Set("bad", Value::Bool(false));
  EXPECT_TRUE(w.Check().ok());
  Writer odd(3);
  EXPECT_FALSE(odd.Check().ok());
  TempDir dir;
  EXPECT_FALSE(odd.Write(dir / "x.gguf").ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

TEST(GgufWrite, WriteThenOpenMapsTheFile) {
  TempDir dir;
  Writer w(64);
  w.metadata().Set("general.name", Value::Str("disk"));
  const std::vector<uint8_t> q = RandomBytes(144 * 4, 7);
  ASSERT_TRUE(w.AddTensor("q", DType::kQ4_K, {512, 2}, q.data(), q.size()).ok());
  float f = 3.5f;
  ASSERT_TRUE(w.AddTensorRef("f", DType::kF32, {1}, &f, 4).ok());
  const std::string path = dir / "m.gguf";
  ASSERT_TRUE(w.Write(path).ok());
  auto file = File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->paths(), std::vector<std::string>{path});
  EXPECT_EQ(*(*file)->metadata().GetUint("general.alignment"), 64u);
  EXPECT_EQ(std::memcmp((*file)->FindTensor("q")->data, q.data(), q.size()), 0);
  float g = 0;
  std::memcpy(&g, (*file)->FindTensor("f")->data, 4);
  EXPECT_EQ(g, 3.5f);
  EXPECT_EQ((*file)->total_file_bytes(), std::filesystem::file_size(path));
  // The on-disk bytes are exactly Serialize().
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(disk, w.Serialize());
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(GgufWrite, FailedWriteKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir / "m.gguf";
  Writer good;
  good.metadata().Set("v", Value::U32(1));
  ASSERT_TRUE(good.Write(path).ok());
  Writer bad;
  bad.metadata().Set("v", Value{ValueType::kUint32, std::string("oops")});
  EXPECT_FALSE(bad.Write(path).ok());
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*(*f)->metadata().GetUint("v"), 1u);
  // A directory that does not exist: an I/O error, nothing created.
  EXPECT_EQ(good.Write(dir / "no/such/dir/m.gguf").code(), StatusCode::kIoError);
}

TEST(GgufOpen, Errors) {
  TempDir dir;
  auto missing = File::Open(dir / "none.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.gguf"), std::string::npos);
  EXPECT_EQ(File::Open(dir.path()).status().code(), StatusCode::kInvalidArgument);
  { std::ofstream(dir / "empty.gguf").flush(); }
  auto empty = File::Open(dir / "empty.gguf");
  EXPECT_EQ(empty.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(empty.status().message().find("empty.gguf: file is 0 bytes"), std::string::npos)
      << empty.status().ToString();
}

}  // namespace
}  // namespace shoal::gguf
