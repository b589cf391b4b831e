#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/arch.h"
#include "model/config.h"
#include "model/generate.h"
#include "model/rope.h"

namespace shoal::model {
namespace {

// Hand-made metadata of a small model: n_vocab tokens "t0".."tN".
gguf::Metadata SmallMetadata(const std::string& arch) {
  gguf::Metadata md;
  md.Set("general.architecture", gguf::Value::Str(arch));
  md.Set(arch + ".block_count", gguf::Value::U32(2));
  md.Set(arch + ".embedding_length", gguf::Value::U32(64));
  md.Set(arch + ".feed_forward_length", gguf::Value::U32(96));
  md.Set(arch + ".attention.head_count", gguf::Value::U32(4));
  md.Set(arch + ".attention.head_count_kv", gguf::Value::U32(2));
  md.Set(arch + ".context_length", gguf::Value::U32(128));
  md.Set(arch + ".rope.freq_base", gguf::Value::F32(500000.0f));
  md.Set(arch + ".attention.layer_norm_rms_epsilon", gguf::Value::F32(1e-5f));
  std::vector<std::string> toks;
  for (int i = 0; i < 300; ++i) {
    std::string t = "t";
    t += std::to_string(i);
    toks.push_back(t);
  }
  md.Set("tokenizer.ggml.tokens", gguf::Value::StrArray(toks));
  return md;
}

TEST(Config, ParsesLlama) {
  auto c = ParseConfig(SmallMetadata("llama"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, "llama");
  EXPECT_EQ(c->n_vocab, 300);
  EXPECT_EQ(c->n_layer, 2);
  EXPECT_EQ(c->n_embd, 64);
  EXPECT_EQ(c->n_ff, 96);
  EXPECT_EQ(c->n_head, 4);
  EXPECT_EQ(c->n_head_kv, 2);
  EXPECT_EQ(c->head_dim_k, 16);
  EXPECT_EQ(c->head_dim_v, 16);
  EXPECT_EQ(c->rope_dim, 16);
  EXPECT_EQ(c->n_ctx_train, 128);
  EXPECT_FLOAT_EQ(c->rope_freq_base, 500000.0f);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-5f);
  EXPECT_EQ(c->rope_style, RopeStyle::kNormal);
  EXPECT_EQ(c->rope_scaling, RopeScaling::kNone);
  EXPECT_FALSE(c->attn_qkv_bias);
  EXPECT_FALSE(c->qk_norm);
  // 2 layers * 128 positions * (32 + 32) values * 2 bytes
  EXPECT_EQ(c->KvCacheBytes(128), 2u * 128 * 64 * 2);
}

TEST(Config, ArchFlagsAndDefaults) {
  gguf::Metadata md = SmallMetadata("qwen2");
  md.Set("qwen2.attention.head_count_kv", gguf::Value::U32(4));
  auto q2 = ParseConfig(md);
  ASSERT_TRUE(q2.ok()) << q2.status().ToString();
  EXPECT_EQ(q2->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(q2->attn_qkv_bias);
  EXPECT_FALSE(q2->qk_norm);

  gguf::Metadata md3 = SmallMetadata("qwen3");
  md3.Set("qwen3.attention.key_length", gguf::Value::U32(32));
  md3.Set("qwen3.attention.value_length", gguf::Value::U32(32));
  md3.Set("qwen3.rope.scaling.type", gguf::Value::Str("yarn"));
  md3.Set("qwen3.rope.scaling.factor", gguf::Value::F32(4.0f));
  md3.Set("qwen3.rope.scaling.original_context_length", gguf::Value::U32(32));
  auto q3 = ParseConfig(md3);
  ASSERT_TRUE(q3.ok()) << q3.status().ToString();
  EXPECT_EQ(q3->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(q3->qk_norm);
  EXPECT_EQ(q3->head_dim_k, 32);  // from key_length, not 64 / 4
  EXPECT_EQ(q3->n_embd_q(), 128);
  EXPECT_EQ(q3->rope_scaling, RopeScaling::kYarn);
  EXPECT_FLOAT_EQ(q3->rope_scaling_factor, 4.0f);
  EXPECT_EQ(q3->rope_scaling_orig_ctx, 32);
}

TEST(Config, Errors) {
  {
    gguf::Metadata md = SmallMetadata("llama");
    md.Set("general.architecture", gguf::Value::Str("gpt-j"));
    auto c = ParseConfig(md);
    EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(c.status().message().find("gpt-j"), std::string::npos);
  }
  for (const char* key :
       {"llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.context_length", "tokenizer.ggml.tokens",
        "general.architecture"}) {
    gguf::Metadata md;
    const gguf::Metadata full = SmallMetadata("llama");
    for (const auto& [k, v] : full.entries()) {
      if (k != key) md.Set(k, v);
    }
    auto c = ParseConfig(md);
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().code(), StatusCode::kNotFound) << key;
    EXPECT_NE(c.status().message().find(key), std::string::npos) << c.status().ToString();
  }
  {
    gguf::Metadata md = SmallMetadata("llama");
    md.Set("llama.attention.head_count_kv", gguf::Value::U32(3));  // 4 % 3 != 0
    EXPECT_EQ(ParseConfig(md).status().code(), StatusCode::kInvalidArgument);
    md = SmallMetadata("llama");
    md.Set("llama.block_count", gguf::Value::U32(0));
    EXPECT_EQ(ParseConfig(md).status().code(), StatusCode::kInvalidArgument);
    md = SmallMetadata("llama");
    md.Set("llama.rope.scaling.type", gguf::Value::Str("longrope"));
    EXPECT_EQ(ParseConfig(md).status().code(), StatusCode::kUnimplemented);
  }
}

TEST(Registry, TensorLists) {
  ASSERT_NE(FindArch("llama"), nullptr);
  ASSERT_NE(FindArch("qwen2"), nullptr);
  ASSERT_NE(FindArch("qwen3"), nullptr);
  EXPECT_EQ(FindArch("mamba"), nullptr);
  auto names = [](const std::string& arch, bool tied) {
    gguf::Metadata md = SmallMetadata(arch);
    ModelConfig c = *ParseConfig(md);
    c.tied_output = tied;
    std::vector<std::string> out;
    FindArch(arch)->for_each_tensor(c, [&](const TensorSpec& s) { out.push_back(s.name); });
    return out;
  };
  const auto llama = names("llama", false);
  EXPECT_EQ(llama.size(), 1u + 2 * 9 + 2);
  EXPECT_EQ(llama.front(), "token_embd.weight");
  EXPECT_EQ(llama.back(), "output.weight");
  EXPECT_EQ(names("llama", true).size(), llama.size() - 1);
  EXPECT_EQ(names("qwen2", false).size(), llama.size() + 2 * 3);
  EXPECT_EQ(names("qwen3", false).size(), llama.size() + 2 * 2);
  const auto q3 = names("qwen3", false);
  EXPECT_NE(std::find(q3.begin(), q3.end(), "blk.1.attn_k_norm.weight"), q3.end());
}

TEST(Rope, NormalAndNeoxPairs) {
  ModelConfig c = *ParseConfig(SmallMetadata("llama"));
  c.rope_freq_base = 10000.0f;
  std::vector<float> head(16), cs(8), sn(8);
  for (int style = 0; style < 2; ++style) {
    c.rope_style = style ? RopeStyle::kNeox : RopeStyle::kNormal;
    Rope rope(c, {});
    ASSERT_EQ(rope.n_pairs(), 8);
    const int pos = 7;
    rope.Angles(pos, cs.data(), sn.data());
    for (int i = 0; i < 16; ++i) head[i] = float(i + 1);
    rope.Apply(head.data(), cs.data(), sn.data());
    for (int i = 0; i < 8; ++i) {
      const double th = pos * std::pow(10000.0, -2.0 * i / 16);
      const int a = style ? i : 2 * i, b = style ? i + 8 : 2 * i + 1;
      const double x = a + 1, y = b + 1;
      EXPECT_NEAR(head[a], x * std::cos(th) - y * std::sin(th), 1e-4) << style << " " << i;
      EXPECT_NEAR(head[b], x * std::sin(th) + y * std::cos(th), 1e-4) << style << " " << i;
    }
  }
  // llama3 divisors and linear scaling divide the frequency.
  std::vector<float> div(8, 4.0f);
  c.rope_style = RopeStyle::kNormal;
  Rope scaled(c, div);
  scaled.Angles(8, cs.data(), sn.data());
  std::vector<float> cs2(8), sn2(8);
  Rope plain(c, {});
  plain.Angles(2, cs2.data(), sn2.data());
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(cs[i], cs2[i], 1e-5);
}

// A complete small f32 model built from the architecture's own tensor list, with `skip` left
// out and `reshape` given a wrong shape.
std::vector<uint8_t> BuildImage(const std::string& arch, const std::string& skip = "",
                                const std::string& reshape = "", DType type = DType::kF32) {
  gguf::Writer w;
  gguf::Metadata md = SmallMetadata(arch);
  auto tok = BuiltinTokenizerMetadata(300);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  for (const auto& [k, v] : tok->entries()) md.Set(k, v);
  w.metadata() = md;
  ModelConfig c = *ParseConfig(md);
  FindArch(arch)->for_each_tensor(c, [&](const TensorSpec& s) {
    if (s.name == skip) return;
    std::vector<int64_t> shape = s.shape;
    if (s.name == reshape) shape[0] += 32;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const DType t = s.matrix ? type : DType::kF32;
    std::vector<float> data(n, 0.01f);
    std::vector<uint16_t> half(n, 0x2000);
    const void* p = t == DType::kF32 ? static_cast<const void*>(data.data()) : half.data();
    EXPECT_TRUE(w.AddTensor(s.name, t, shape, p, RowBytes(t, n)).ok());
  });
  return w.Serialize();
}

StatusOr<std::unique_ptr<Model>> LoadImage(const std::vector<uint8_t>& img) {
  auto f = gguf::File::FromMemory(img.data(), img.size());
  if (!f.ok()) return f.status();
  return Model::FromFile(std::move(f).value());
}

TEST(Model, LoadsEveryArch) {
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    const auto img = BuildImage(arch);
    auto m = LoadImage(img);
    ASSERT_TRUE(m.ok()) << arch << ": " << m.status().ToString();
    EXPECT_EQ((*m)->config().arch, arch);
    EXPECT_EQ((*m)->weights().layers.size(), 2u);
    EXPECT_GT((*m)->weight_bytes(), 0u);
    EXPECT_EQ((*m)->tokenizer().n_vocab(), 300);
    EXPECT_FALSE((*m)->config().tied_output);
  }
}

TEST(Model, ReportsProgressPerTensor) {
  const auto img = BuildImage("llama");
  auto f = gguf::File::FromMemory(img.data(), img.size());
  ASSERT_TRUE(f.ok());
  uint64_t file_bytes = 0;  // the reference: every tensor of the file, from its directory
  for (const gguf::TensorInfo& t : (*f)->tensors()) file_bytes += t.bytes;
  const size_t n_tensors = (*f)->tensors().size();
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  LoadOptions lo;
  lo.on_progress = [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); };
  auto m = Model::FromFile(std::move(f).value(), lo);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(calls.size(), 1 + n_tensors);  // the start, then one per tensor
  EXPECT_EQ(calls.front(), std::make_pair(uint64_t{0}, file_bytes));
  EXPECT_EQ(calls.back(), std::make_pair(file_bytes, file_bytes));
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GT(calls[i].first, calls[i - 1].first);
    EXPECT_EQ(calls[i].second, file_bytes);
  }
}

TEST(Generate, ReportsEachTensorMade) {
  GenSpec spec;
  spec.n_embd = 64;
  spec.n_ff = 96;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  spec.on_progress = [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); };
  gguf::Writer w;
  ASSERT_TRUE(GenerateModelWriter(spec, &w).ok());
  const std::vector<uint8_t> img = w.Serialize();
  auto f = gguf::File::FromMemory(img.data(), img.size());
  ASSERT_TRUE(f.ok());
  const uint64_t n = (*f)->tensors().size();  // the reference: the file's directory
  ASSERT_EQ(calls.size(), n + 1);
  for (uint64_t i = 0; i <= n; ++i) EXPECT_EQ(calls[i], std::make_pair(i, n));
}

TEST(Model, TiedOutput) {
  const auto img = BuildImage("llama", "output.weight");
  auto m = LoadImage(img);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE((*m)->config().tied_output);
  EXPECT_EQ((*m)->weights().output.data, (*m)->weights().token_embd.data);
}

TEST(Model, MissingTensor) {
  for (const char* name : {"blk.1.ffn_down.weight", "output_norm.weight", "token_embd.weight"}) {
    const auto img = BuildImage("llama", name);
    auto m = LoadImage(img);
    ASSERT_FALSE(m.ok()) << name;
    EXPECT_EQ(m.status().code(), StatusCode::kNotFound) << m.status().ToString();
    EXPECT_NE(m.status().message().find(name), std::string::npos) << m.status().ToString();
  }
  const auto img = BuildImage("qwen2", "blk.0.attn_k.bias");
  EXPECT_EQ(LoadImage(img).status().code(), StatusCode::kNotFound);
  const auto img3 = BuildImage("qwen3", "blk.1.attn_q_norm.weight");
  EXPECT_EQ(LoadImage(img3).status().code(), StatusCode::kNotFound);
}

TEST(Model, WrongShape) {
  const auto img = BuildImage("llama", "", "blk.0.attn_q.weight");
  auto m = LoadImage(img);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = m.status().message();
  EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[96, 64]"), std::string::npos) << msg;  // actual
  EXPECT_NE(msg.find("[64, 64]"), std::string::npos) << msg;  // expected
}

TEST(Model, NonComputableType) {
  // i32 is a valid GGUF type that no kernel computes.
  const auto img = BuildImage("llama", "", "", DType::kI16);
  auto m = LoadImage(img);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented) << m.status().ToString();
  EXPECT_NE(m.status().message().find("token_embd.weight"), std::string::npos);
  EXPECT_NE(m.status().message().find("i16"), std::string::npos) << m.status().ToString();
}

TEST(Model, MemoryCheck) {
  const auto img = BuildImage("llama");
  auto f = gguf::File::FromMemory(img.data(), img.size());
  ASSERT_TRUE(f.ok());
  LoadOptions o;
  o.n_ctx = 1 << 30;  // a KV cache of 2 * 2^30 * 64 * 2 bytes = 256 GiB per layer
  auto m = Model::FromFile(std::move(f).value(), o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kResourceExhausted) << m.status().ToString();
  EXPECT_NE(m.status().message().find("KV cache"), std::string::npos);
  auto f2 = gguf::File::FromMemory(img.data(), img.size());
  o.check_memory = false;
  EXPECT_TRUE(Model::FromFile(std::move(f2).value(), o).ok());
}

}  // namespace
}  // namespace shoal::model
