#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "format/gguf.h"

namespace shoal::gguf {
namespace {

Metadata Sample() {
  Metadata md;
  md.Set("u8", Value::U8(200));
  md.Set("i8", Value::I8(-100));
  md.Set("u16", Value::U16(60000));
  md.Set("i16", Value::I16(-30000));
  md.Set("u32", Value::U32(4000000000u));
  md.Set("i32", Value::I32(-2000000000));
  md.Set("u64", Value::U64(std::numeric_limits<uint64_t>::max()));
  md.Set("i64", Value::I64(std::numeric_limits<int64_t>::min()));
  md.Set("f32", Value::F32(1.5f));
  md.Set("f64", Value::F64(-2.25));
  md.Set("bool", Value::Bool(true));
  md.Set("str", Value::Str("hello"));
  md.Set("strs", Value::StrArray({"a", "", "c"}));
  md.Set("f32s", Value::F32Array({1.0f, -0.5f}));
  md.Set("i32s", Value::I32Array({-1, 7}));
  md.Set("u64s", Value::Arr(ValueType::kUint64, {Value::U64(1), Value::U64(UINT64_MAX)}));
  md.Set("f64s", Value::Arr(ValueType::kFloat64, {Value::F64(1e300)}));
  md.Set("mixed", Value::Arr(ValueType::kString, {Value::Str("x"), Value::I32(3)}));
  return md;
}

TEST(GgufMetadata, IntegerGettersWidenAndCheckRange) {
  const Metadata md = Sample();
  EXPECT_EQ(*md.GetUint("u8"), 200u);
  EXPECT_EQ(*md.GetInt("u8"), 200);
  EXPECT_EQ(*md.GetInt("i8"), -100);
  EXPECT_EQ(*md.GetUint("u16"), 60000u);
  EXPECT_EQ(*md.GetInt("i16"), -30000);
  EXPECT_EQ(*md.GetUint("u32"), 4000000000u);
  EXPECT_EQ(*md.GetInt("i32"), -2000000000);
  EXPECT_EQ(*md.GetUint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*md.GetInt("i64"), std::numeric_limits<int64_t>::min());

  // Negative to unsigned, and u64 above INT64_MAX to signed, are range errors naming the key.
  auto neg = md.GetUint("i16");
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(neg.status().message().find("'i16'"), std::string::npos);
  EXPECT_NE(neg.status().message().find("out of range"), std::string::npos);
  auto big = md.GetInt("u64");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("out of range"), std::string::npos);
  EXPECT_EQ(md.GetUint("i32s").status().code(), StatusCode::kInvalidArgument);  // an array
}

TEST(GgufMetadata, WrongTypeAndMissing) {
  const Metadata md = Sample();
  EXPECT_EQ(md.GetUint("missing").status().code(), StatusCode::kNotFound);
  EXPECT_NE(md.GetString("missing").status().message().find("'missing'"), std::string::npos);
  EXPECT_EQ(md.GetUint("f32").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetInt("str").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetInt("bool").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetBool("u8").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetString("u8").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetFloat("str").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetStringArray("str").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetStringArray("i32s").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetIntArray("strs").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetFloatArray("strs").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetIntArray("nothing").status().code(), StatusCode::kNotFound);
  // A malformed in-memory value (an i32 inside a string array) is reported with its index.
  auto mixed = md.GetStringArray("mixed");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("mixed[1]"), std::string::npos);
}

TEST(GgufMetadata, FloatBoolStringAndArrays) {
  const Metadata md = Sample();
  EXPECT_EQ(*md.GetFloat("f32"), 1.5);
  EXPECT_EQ(*md.GetFloat("f64"), -2.25);
  EXPECT_EQ(*md.GetFloat("i32"), -2000000000.0);
  EXPECT_EQ(*md.GetFloat("u64"), 18446744073709551615.0);
  EXPECT_TRUE(*md.GetBool("bool"));
  EXPECT_EQ(*md.GetString("str"), "hello");
  EXPECT_EQ(*md.GetStringArray("strs"), (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(*md.GetFloatArray("f32s"), (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(*md.GetFloatArray("i32s"), (std::vector<float>{-1.0f, 7.0f}));
  EXPECT_EQ(*md.GetIntArray("i32s"), (std::vector<int64_t>{-1, 7}));
  // u64 beyond int64 and f64 beyond float are range errors, not silent wraps or infinities.
  EXPECT_EQ(md.GetIntArray("u64s").status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(md.GetIntArray("u64s").status().message().find("u64s[1]"), std::string::npos);
  EXPECT_EQ(md.GetFloatArray("f64s").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(md.GetIntArray("f32s").status().code(), StatusCode::kInvalidArgument);
}

TEST(GgufMetadata, OrGettersAndSet) {
  Metadata md = Sample();
  EXPECT_EQ(md.GetUintOr("u8", 7), 200u);
  EXPECT_EQ(md.GetUintOr("missing", 7), 7u);
  EXPECT_EQ(md.GetUintOr("i8", 7), 7u);  // out of range: the default
  EXPECT_EQ(md.GetFloatOr("f64", 1.0), -2.25);
  EXPECT_EQ(md.GetFloatOr("str", 1.0), 1.0);
  EXPECT_TRUE(md.GetBoolOr("bool", false));
  EXPECT_FALSE(md.GetBoolOr("missing", false));
  EXPECT_EQ(md.GetStringOr("str", "x"), "hello");
  EXPECT_EQ(md.GetStringOr("u8", "x"), "x");

  const size_t n = md.entries().size();
  md.Set("u8", Value::Str("now a string"));  // replaced in place
  EXPECT_EQ(md.entries().size(), n);
  EXPECT_EQ(md.entries()[0].first, "u8");
  EXPECT_EQ(*md.GetString("u8"), "now a string");
  md.Set("new", Value::Bool(false));
  EXPECT_EQ(md.entries().size(), n + 1);
  EXPECT_EQ(md.entries().back().first, "new");
  EXPECT_TRUE(md.Has("new"));
  EXPECT_FALSE(md.Has("nope"));
}

TEST(GgufMetadata, ValueTypeNames) {
  EXPECT_EQ(ValueTypeName(ValueType::kUint8), "u8");
  EXPECT_EQ(ValueTypeName(ValueType::kArray), "array");
  EXPECT_EQ(ValueTypeName(ValueType::kFloat64), "f64");
  EXPECT_EQ(ValueTypeName(static_cast<ValueType>(99)), "unknown");
}

}  // namespace
}  // namespace shoal::gguf
