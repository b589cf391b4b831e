// Writes a few small valid GGUF files into the directory given as argv[1]: the fuzzer's seeds.
#include <cstdio>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace {

using shoal::DType;
using shoal::gguf::Value;
using shoal::gguf::ValueType;
using shoal::gguf::Writer;

int Fail(const shoal::Status& s) {
  std::fprintf(stderr, "gguf_fuzz_seeds: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gguf_fuzz_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<uint8_t> bytes(4 * 34);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);

  // 1: every value type, two tensors.
  Writer a;
  a.metadata().Set("general.architecture", Value::Str("llama"));
  a.metadata().Set("u8", Value::U8(1));
  a.metadata().Set("i8", Value::I8(-1));
  a.metadata().Set("u16", Value::U16(2));
  a.metadata().Set("i16", Value::I16(-2));
  a.metadata().Set("u32", Value::U32(3));
  a.metadata().Set("i32", Value::I32(-3));
  a.metadata().Set("u64", Value::U64(4));
  a.metadata().Set("i64", Value::I64(-4));
  a.metadata().Set("f32", Value::F32(0.5f));
  a.metadata().Set("f64", Value::F64(0.25));
  a.metadata().Set("b", Value::Bool(true));
  a.metadata().Set("toks", Value::StrArray({"a", std::string("b\0c", 3), ""}));
  a.metadata().Set(
      "nest", Value::Arr(ValueType::kArray, {Value::I32Array({1, 2}), Value::F32Array({1.0f})}));
  if (auto s = a.AddTensor("w", DType::kQ8_0, {32, 2}, bytes.data(), 68); !s.ok()) return Fail(s);
  if (auto s = a.AddTensor("n", DType::kF32, {2}, bytes.data(), 8); !s.ok()) return Fail(s);
  if (auto s = a.Write(dir + "/all_types.gguf"); !s.ok()) return Fail(s);

  // 2: another alignment and a k-quant.
  Writer b(8);
  b.metadata().Set("general.alignment", Value::U32(8));
  std::vector<uint8_t> k(144);
  if (auto s = b.AddTensor("k", DType::kQ4_K, {256}, k.data(), k.size()); !s.ok()) return Fail(s);
  if (auto s = b.AddTensor("h", DType::kF16, {3, 1, 1, 2}, bytes.data(), 12); !s.ok())
    return Fail(s);
  if (auto s = b.Write(dir + "/align8.gguf"); !s.ok()) return Fail(s);

  // 3: metadata only, split keys.
  Writer c;
  c.metadata().Set("split.no", Value::U16(0));
  c.metadata().Set("split.count", Value::U16(1));
  c.metadata().Set("split.tensors.count", Value::I32(0));
  if (auto s = c.Write(dir + "/meta_only.gguf"); !s.ok()) return Fail(s);
  return 0;
}
