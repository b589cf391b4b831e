// `shoal inspect`'s cost estimate (tools/model_info.h) for models known only by their published
// shapes: a GGUF with the metadata and no tensors, as llama.cpp's converter would write it.
#include "model_info.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "format/gguf.h"

namespace shoal {
namespace {

std::string WriteMetadataOnly(const std::string& name, const gguf::Metadata& md) {
  gguf::Writer w;
  for (const auto& [k, v] : md.entries()) w.metadata().Set(k, v);
  const std::string path = testing::TempDir() + name;
  EXPECT_TRUE(w.Write(path).ok());
  return path;
}

// DeepSeek-V3 / R1 (config.json): 61 layers, hidden 7168, 128 heads, q_lora 1536, kv_lora 512,
// qk_nope 128, qk_rope 64, v 128. MLA caches 512 + 64 f16 values per layer and token: 70,272
// bytes (~70 KB), against 61 * 128 * (192 + 128) * 2 = 4.8 MB for the same heads uncompressed.
TEST(ModelInfo, DeepseekV3KvBytesPerToken) {
  const std::string a = "deepseek2";
  gguf::Metadata md;
  md.Set("general.architecture", gguf::Value::Str(a));
  md.Set(a + ".block_count", gguf::Value::U32(61));
  md.Set(a + ".context_length", gguf::Value::U32(163840));
  md.Set(a + ".embedding_length", gguf::Value::U32(7168));
  md.Set(a + ".feed_forward_length", gguf::Value::U32(18432));
  md.Set(a + ".attention.head_count", gguf::Value::U32(128));
  md.Set(a + ".attention.head_count_kv", gguf::Value::U32(1));
  md.Set(a + ".attention.q_lora_rank", gguf::Value::U32(1536));
  md.Set(a + ".attention.kv_lora_rank", gguf::Value::U32(512));
  md.Set(a + ".attention.key_length", gguf::Value::U32(576));
  md.Set(a + ".attention.value_length", gguf::Value::U32(512));
  md.Set(a + ".attention.key_length_mla", gguf::Value::U32(192));
  md.Set(a + ".attention.value_length_mla", gguf::Value::U32(128));
  md.Set(a + ".rope.dimension_count", gguf::Value::U32(64));
  md.Set(a + ".expert_count", gguf::Value::U32(256));
  md.Set(a + ".expert_used_count", gguf::Value::U32(8));
  const std::string path = WriteMetadataOnly("shoal_dsv3_shapes.gguf", md);
  auto file = gguf::File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const cli::ModelCosts c = cli::EstimateCosts(**file, 4096);
  EXPECT_TRUE(c.kv_known);
  EXPECT_TRUE(c.kv_latent);
  EXPECT_EQ(c.kv_lora_rank, 512u);
  EXPECT_EQ(c.kv_rope_dim, 64u);
  EXPECT_EQ(c.kv_bytes_per_token, 61u * (512 + 64) * 2);  // 70,272 bytes
  std::remove(path.c_str());
}

}  // namespace
}  // namespace shoal
