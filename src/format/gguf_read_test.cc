// Reader tests: hand-built images (an independent byte-level reference), round trips through the
// writer, truncation at every offset, and one test per kind of corruption.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "format/gguf.h"
#include "format/gguf_test_util.h"

namespace shoal::gguf {
namespace {

using testing::Raw;
using testing::SameValue;

// Parses from a heap copy of exactly the image's size, so a read past the end is an ASan error.
StatusOr<std::unique_ptr<File>> Parse(const std::vector<uint8_t>& image,
                                      std::unique_ptr<uint8_t[]>* keep) {
  keep->reset(new uint8_t[image.size() + (image.empty() ? 1 : 0)]);
  if (!image.empty()) std::memcpy(keep->get(), image.data(), image.size());
  return File::FromMemory(keep->get(), image.size());
}

Status ParseStatus(const std::vector<uint8_t>& image) {
  std::unique_ptr<uint8_t[]> keep;
  auto f = Parse(image, &keep);
  return f.ok() ? Status::Ok() : f.status();
}

void ExpectError(const std::vector<uint8_t>& image, StatusCode code, std::string_view needle) {
  const Status s = ParseStatus(image);
  ASSERT_FALSE(s.ok()) << "parsed a bad image; wanted: " << needle;
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString() << "\nwant: " << needle;
}

// A small valid v3 image built by hand: 2 kvs, tensors "a" (f32 [4,2]) and "b" (q8_0 [32]).
Raw SmallImage() {
  Raw r;
  r.Header(3, 2, 2);
  r.Key("general.name", ValueType::kString).Str("tiny");
  r.Key("n", ValueType::kUint32).Pod<uint32_t>(7);
  r.TensorInfo("a", {4, 2}, 0, 0);
  r.TensorInfo("b", {32}, 8, 32);
  r.PadTo(32);
  for (int i = 0; i < 8; ++i) r.Pod<float>(static_cast<float>(i));
  r.Bytes(34, 0x5a);  // q8_0: one block of 34 bytes
  return r;
}

TEST(GgufRead, HandBuiltImage) {
  const Raw r = SmallImage();
  std::unique_ptr<uint8_t[]> keep;
  auto f = Parse(r.b, &keep);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const File& file = **f;
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(*file.metadata().GetString("general.name"), "tiny");
  EXPECT_EQ(*file.metadata().GetUint("n"), 7u);
  ASSERT_EQ(file.tensors().size(), 2u);
  const TensorInfo* a = file.FindTensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(a->n_elements(), 8);
  EXPECT_EQ(a->n_rows(), 2);
  EXPECT_EQ(a->bytes, 32u);
  float x[8];
  std::memcpy(x, a->data, sizeof(x));
  EXPECT_EQ(x[5], 5.0f);
  const TensorInfo* b = file.FindTensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, DType::kQ8_0);
  EXPECT_EQ(b->bytes, 34u);
  EXPECT_EQ(b->data, keep.get() + r.size() - 34);
  EXPECT_EQ(file.FindTensor("c"), nullptr);
  EXPECT_EQ(file.tensor_data_bytes(), 66u);
  EXPECT_EQ(file.total_file_bytes(), r.size());
  EXPECT_EQ(file.n_splits(), 1u);
}

TEST(GgufRead, Version2IsAccepted) {
  Raw r = SmallImage();
  r.b[4] = 2;
  std::unique_ptr<uint8_t[]> keep;
  auto f = Parse(r.b, &keep);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->version(), 2u);
}

TEST(GgufRead, TruncationAtEveryOffsetFails) {
  const Raw r = SmallImage();
  for (size_t n = 0; n < r.size(); ++n) {
    std::vector<uint8_t> cut(r.b.begin(), r.b.begin() + static_cast<ptrdiff_t>(n));
    const Status s = ParseStatus(cut);
    EXPECT_FALSE(s.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << n << ": " << s.ToString();
  }
}

TEST(GgufRead, TruncationOfWriterOutputFails) {
  Writer w(64);
  w.metadata().Set("s", Value::StrArray({"x", std::string("a\0b", 3)}));
  w.metadata().Set("nest", Value::Arr(ValueType::kArray, {Value::I32Array({1, 2})}));
  w.metadata().Set("f", Value::F64(0.5));
  std::vector<uint8_t> q4(18 * 2, 0x11);
  ASSERT_TRUE(w.AddTensor("q", DType::kQ4_0, {32, 2}, q4.data(), q4.size()).ok());
  std::vector<uint8_t> f32(64, 0x3f);  // ends exactly at a 64-byte boundary: no tail padding
  ASSERT_TRUE(w.AddTensor("f", DType::kF32, {16}, f32.data(), f32.size()).ok());
  const std::vector<uint8_t> image = w.Serialize();
  ASSERT_TRUE(ParseStatus(image).ok()) << ParseStatus(image).ToString();
  for (size_t n = 0; n < image.size(); ++n) {
    std::vector<uint8_t> cut(image.begin(), image.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_FALSE(ParseStatus(cut).ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(GgufRead, BadMagicAndVersions) {
  Raw r = SmallImage();
  r.b[0] = 'X';
  ExpectError(r.b, StatusCode::kCorrupt, "bad magic 'XGUF'");
  r.b[1] = 0;
  ExpectError(r.b, StatusCode::kCorrupt, "bad magic 'X?UF'");
  r = SmallImage();
  r.b[4] = 1;
  ExpectError(r.b, StatusCode::kUnimplemented, "version 1");
  r.b[4] = 4;
  ExpectError(r.b, StatusCode::kUnimplemented, "version 4");
  r.b[4] = 0;
  r.b[7] = 3;  // 0x03000000: a big-endian v3 file
  ExpectError(r.b, StatusCode::kUnimplemented, "big-endian");
}

TEST(GgufRead, HugeCountsFailFast) {
  Raw r;
  r.Header(3, 0, uint64_t{1} << 60);
  r.Bytes(64, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "kv_count 1152921504606846976 at byte 16");
  r = Raw();
  r.Header(3, uint64_t{1} << 60, 0);
  r.Bytes(64, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "tensor_count 1152921504606846976 at byte 8");
  // An array claiming 2^60 elements is refused before anything is allocated.
  r = Raw();
  r.Header(3, 0, 1).Key("arr", ValueType::kArray).Pod<uint32_t>(0).Pod<uint64_t>(uint64_t{1} << 60);
  r.Bytes(16, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "kv 0 'arr' at byte 43: array of 1152921504606846976");
  // Nested: the inner count is checked against what remains, too.
  r = Raw();
  r.Header(3, 0, 1).Key("arr", ValueType::kArray).Pod<uint32_t>(9).Pod<uint64_t>(1);
  r.Pod<uint32_t>(10).Pod<uint64_t>(UINT64_MAX);
  ExpectError(r.b, StatusCode::kCorrupt, "'arr'[0] at byte 55");
  r = Raw();
  r.Header(3, 0, 1).Key("s", ValueType::kString).Pod<uint64_t>(UINT64_MAX - 3);
  ExpectError(r.b, StatusCode::kCorrupt, "kv 0 's' at byte 37: string length 18446744073709551612");
  r = Raw();
  r.Header(3, 0, 1).Pod<uint64_t>(1000).Bytes(10, 'k');
  ExpectError(r.b, StatusCode::kCorrupt, "kv 0 key at byte 24: string length 1000");
}

TEST(GgufRead, TooManyArrayValuesIsResourceExhausted) {
  Raw r;
  const uint64_t n = kMaxMetadataValues + 1;
  r.Header(3, 0, 1).Key("big", ValueType::kArray).Pod<uint32_t>(0).Pod<uint64_t>(n);
  r.Bytes(n, 0);
  ExpectError(r.b, StatusCode::kResourceExhausted, "metadata array values");
}

TEST(GgufRead, BadValues) {
  Raw r;
  r.Header(3, 0, 1).Key("t", static_cast<ValueType>(13)).Pod<uint32_t>(0);
  ExpectError(r.b, StatusCode::kCorrupt, "kv 0 't' at byte 33: unknown value type 13");
  r = Raw();
  r.Header(3, 0, 1).Key("a", ValueType::kArray).Pod<uint32_t>(77).Pod<uint64_t>(0);
  ExpectError(r.b, StatusCode::kCorrupt, "unknown array element type 77");
  r = Raw();
  r.Header(3, 0, 1).Key("b", ValueType::kBool).Pod<uint8_t>(2);
  ExpectError(r.b, StatusCode::kCorrupt, "bool byte is 2");
  r = Raw();
  r.Header(3, 0, 2).Key("k", ValueType::kUint8).Pod<uint8_t>(1);
  r.Key("k", ValueType::kUint8).Pod<uint8_t>(2);
  ExpectError(r.b, StatusCode::kCorrupt, "kv 1 'k' at byte 38: duplicate key");
  // Arrays nested deeper than kMaxArrayDepth.
  r = Raw();
  r.Header(3, 0, 1).Key("deep", ValueType::kArray);
  for (int i = 0; i < kMaxArrayDepth; ++i) r.Pod<uint32_t>(9).Pod<uint64_t>(1);
  r.Pod<uint32_t>(0).Pod<uint64_t>(0);
  ExpectError(r.b, StatusCode::kCorrupt, "nested deeper than 8");
  // Exactly kMaxArrayDepth levels are fine.
  r = Raw();
  r.Header(3, 0, 1).Key("deep", ValueType::kArray);
  for (int i = 0; i < kMaxArrayDepth - 1; ++i) r.Pod<uint32_t>(9).Pod<uint64_t>(1);
  r.Pod<uint32_t>(0).Pod<uint64_t>(1).Pod<uint8_t>(42);
  EXPECT_TRUE(ParseStatus(r.b).ok()) << ParseStatus(r.b).ToString();
}

TEST(GgufRead, BadAlignment) {
  Raw r;
  r.Header(3, 0, 1).Key("general.alignment", ValueType::kUint32).Pod<uint32_t>(48);
  ExpectError(r.b, StatusCode::kCorrupt, "general.alignment 48 is not a power of two");
  r = Raw();
  r.Header(3, 0, 1).Key("general.alignment", ValueType::kUint32).Pod<uint32_t>(0);
  ExpectError(r.b, StatusCode::kCorrupt, "general.alignment 0");
  r = Raw();
  r.Header(3, 0, 1).Key("general.alignment", ValueType::kUint64).Pod<uint64_t>(64);
  ExpectError(r.b, StatusCode::kCorrupt, "general.alignment has type u64, want u32");
}

// One tensor with the given info, a data section of `data_bytes` after 32-byte padding.
std::vector<uint8_t> OneTensor(std::vector<int64_t> ne, uint32_t type, uint64_t offset,
                               size_t data_bytes) {
  Raw r;
  r.Header(3, 1, 0).TensorInfo("blk.0.attn_q.weight", std::move(ne), type, offset);
  r.PadTo(32).Bytes(data_bytes, 1);
  return r.b;
}

TEST(GgufRead, BadTensorInfos) {
  EXPECT_TRUE(ParseStatus(OneTensor({8, 2}, 0, 0, 64)).ok());
  ExpectError(OneTensor({8, 2}, 0, 0, 60), StatusCode::kCorrupt,
              "tensor 0 'blk.0.attn_q.weight': data [offset 96, +64 bytes] ends past end of file "
              "(size 156)");
  ExpectError(OneTensor({8, 2}, 0, 16, 128), StatusCode::kCorrupt,
              "data offset 16 is not a multiple of the alignment 32");
  ExpectError(OneTensor({8, 2}, 4, 0, 64), StatusCode::kCorrupt,
              "tensor 0 'blk.0.attn_q.weight' at byte 71: unknown tensor type id 4");
  ExpectError(OneTensor({8, 2}, 1000, 0, 64), StatusCode::kCorrupt, "unknown tensor type id 1000");
  ExpectError(OneTensor({33, 1}, 2, 0, 64), StatusCode::kCorrupt,
              "row length ne[0] = 33 is not a multiple of the q4_0 block of 32 values");
  ExpectError(OneTensor({8, 0}, 0, 0, 64), StatusCode::kCorrupt, "ne[1] = 0 is not positive");
  ExpectError(OneTensor({-8}, 0, 0, 64), StatusCode::kCorrupt, "ne[0] = -8 is not positive");
  ExpectError(OneTensor({1 << 30, 1 << 30, 1 << 30}, 0, 0, 64), StatusCode::kCorrupt,
              "element count overflows at ne[2]");
  // Element count fits int64, the byte count does not.
  ExpectError(OneTensor({int64_t{1} << 62, 1}, 0, 0, 64), StatusCode::kCorrupt,
              "byte size of a row of 4611686018427387904 values overflows");
  ExpectError(OneTensor({1, 1, 1, 1, 1}, 0, 0, 64), StatusCode::kCorrupt, "n_dims 5 not in 1..4");
  ExpectError(OneTensor({}, 0, 0, 64), StatusCode::kCorrupt, "n_dims 0 not in 1..4");
  ExpectError(OneTensor({8}, 0, UINT64_MAX - 31, 64), StatusCode::kCorrupt, "ends past end");
}

TEST(GgufRead, OverlappingAndDuplicateTensors) {
  Raw r;
  r.Header(3, 2, 0).TensorInfo("x", {16}, 0, 0).TensorInfo("y", {8}, 0, 32);
  r.PadTo(32).Bytes(128, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "tensor 1 'y': data at offset 32 overlaps tensor 0 'x'");
  r = Raw();
  r.Header(3, 2, 0).TensorInfo("x", {8}, 0, 0).TensorInfo("x", {8}, 0, 32);
  r.PadTo(32).Bytes(128, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "tensor 1 'x': duplicate tensor name");
  r = Raw();
  r.Header(3, 1, 0).TensorInfo("", {8}, 0, 0);
  r.PadTo(32).Bytes(32, 0);
  ExpectError(r.b, StatusCode::kCorrupt, "empty name");
}

TEST(GgufRead, EmptyFileWithoutTensorsNeedsNoPadding) {
  Raw r;
  r.Header(3, 0, 1).Key("k", ValueType::kInt8).Pod<int8_t>(-1);
  std::unique_ptr<uint8_t[]> keep;
  auto f = Parse(r.b, &keep);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(*(*f)->metadata().GetInt("k"), -1);
  EXPECT_TRUE((*f)->tensors().empty());
}

}  // namespace
}  // namespace shoal::gguf
