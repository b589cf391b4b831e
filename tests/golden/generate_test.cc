// model::GenerateModel: the files load back with gguf::File, carry the metadata and tensors that
// llama.cpp's converter writes for each arch (lists written out here by hand, not derived from
// the generator), are deterministic per seed, have the intended weight statistics, and give the
// reference forward pass non-degenerate logits.
#include "model/generate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/quant.h"
#include "model/tokenizer.h"
#include "reference.h"

namespace shoal {
namespace {

using model::GenSpec;

struct Image {
  std::vector<uint8_t> bytes;
  std::unique_ptr<gguf::File> file;
};

Image Generate(const GenSpec& spec) {
  Image im;
  gguf::Writer w;
  Status st = model::GenerateModelWriter(spec, &w);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return im;  // no file: callers ASSERT on it
  im.bytes = w.Serialize();
  auto f = gguf::File::FromMemory(im.bytes.data(), im.bytes.size());
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (f.ok()) im.file = std::move(*f);
  return im;
}

// name -> {shape, type} the way convert_hf_to_gguf.py + llama-quantize --pure lay it out.
std::map<std::string, std::pair<std::vector<int64_t>, DType>> Expected(const GenSpec& s,
                                                                       int64_t n_vocab) {
  const int64_t e = s.n_embd, hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  const int64_t q = s.n_head * hd, kv = s.n_head_kv * hd, ff = s.n_ff;
  std::map<std::string, std::pair<std::vector<int64_t>, DType>> m;
  const DType f32 = DType::kF32, w = s.type;
  m["token_embd.weight"] = {{e, n_vocab}, w};
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    m[p + "attn_norm.weight"] = {{e}, f32};
    m[p + "attn_q.weight"] = {{e, q}, w};
    m[p + "attn_k.weight"] = {{e, kv}, w};
    m[p + "attn_v.weight"] = {{e, kv}, w};
    m[p + "attn_output.weight"] = {{q, e}, w};
    m[p + "ffn_norm.weight"] = {{e}, f32};
    m[p + "ffn_gate.weight"] = {{e, ff}, w};
    m[p + "ffn_up.weight"] = {{e, ff}, w};
    m[p + "ffn_down.weight"] = {{ff, e}, w};
    if (s.arch == "qwen2") {
      m[p + "attn_q.bias"] = {{q}, f32};
      m[p + "attn_k.bias"] = {{kv}, f32};
      m[p + "attn_v.bias"] = {{kv}, f32};
    }
    if (s.arch == "qwen3") {
      m[p + "attn_q_norm.weight"] = {{hd}, f32};
      m[p + "attn_k_norm.weight"] = {{hd}, f32};
    }
  }
  m["output_norm.weight"] = {{e}, f32};
  if (!s.tied_output) m["output.weight"] = {{e, n_vocab}, w};
  if (s.llama3_rope_scaling) m["rope_freqs.weight"] = {{hd / 2}, f32};
  return m;
}

void CheckLayout(const GenSpec& s) {
  SCOPED_TRACE(s.arch + " " + std::string(DTypeName(s.type)));
  Image im = Generate(s);
  ASSERT_TRUE(im.file);
  const gguf::Metadata& md = im.file->metadata();
  const std::string a = s.arch;
  EXPECT_EQ(md.GetStringOr("general.architecture", ""), a);
  EXPECT_TRUE(md.Has("general.name"));
  EXPECT_EQ(md.GetUintOr(a + ".context_length", 0), static_cast<uint64_t>(s.n_ctx));
  EXPECT_EQ(md.GetUintOr(a + ".embedding_length", 0), static_cast<uint64_t>(s.n_embd));
  EXPECT_EQ(md.GetUintOr(a + ".block_count", 0), static_cast<uint64_t>(s.n_layer));
  EXPECT_EQ(md.GetUintOr(a + ".feed_forward_length", 0), static_cast<uint64_t>(s.n_ff));
  EXPECT_EQ(md.GetUintOr(a + ".attention.head_count", 0), static_cast<uint64_t>(s.n_head));
  EXPECT_EQ(md.GetUintOr(a + ".attention.head_count_kv", 0), static_cast<uint64_t>(s.n_head_kv));
  EXPECT_FLOAT_EQ(md.GetFloatOr(a + ".rope.freq_base", 0), s.rope_freq_base);
  EXPECT_FLOAT_EQ(md.GetFloatOr(a + ".attention.layer_norm_rms_epsilon", 0),
                  a == "llama" ? 1e-5f : 1e-6f);
  // The value types gguf-py writes: u32 for counts, f32 for the floats.
  EXPECT_EQ(md.Find(a + ".block_count")->type, gguf::ValueType::kUint32);
  EXPECT_EQ(md.Find(a + ".rope.freq_base")->type, gguf::ValueType::kFloat32);
  EXPECT_EQ(md.Find("general.file_type")->type, gguf::ValueType::kUint32);
  const int64_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  auto tokens = md.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  const int64_t n_vocab = static_cast<int64_t>(tokens->size());
  if (a == "llama") {
    EXPECT_EQ(md.GetUintOr(a + ".vocab_size", 0), static_cast<uint64_t>(n_vocab));
    EXPECT_EQ(md.GetUintOr(a + ".rope.dimension_count", 0), static_cast<uint64_t>(hd));
  } else {  // the Qwen converters write neither
    EXPECT_FALSE(md.Has(a + ".vocab_size"));
    EXPECT_FALSE(md.Has(a + ".rope.dimension_count"));
  }
  EXPECT_EQ(md.Has(a + ".attention.key_length"), a == "qwen3" || s.head_dim != 0);
  if (md.Has(a + ".attention.key_length")) {
    EXPECT_EQ(md.GetUintOr(a + ".attention.key_length", 0), static_cast<uint64_t>(hd));
    EXPECT_EQ(md.GetUintOr(a + ".attention.value_length", 0), static_cast<uint64_t>(hd));
  }
  auto want = Expected(s, n_vocab);
  EXPECT_EQ(im.file->tensors().size(), want.size());
  for (const auto& [name, st] : want) {
    const gguf::TensorInfo* t = im.file->FindTensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape, st.first) << name;
    EXPECT_EQ(t->type, st.second) << name;
  }
}

TEST(Generate, LayoutPerArch) {
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K}) {
      GenSpec s;
      s.arch = arch;
      s.type = t;
      CheckLayout(s);
    }
  }
  GenSpec s;
  s.tied_output = true;
  s.llama3_rope_scaling = true;
  s.head_dim = 32;  // != n_embd / n_head: key_length written, q has 128 rows
  CheckLayout(s);
}

TEST(Generate, FileTypeAndQ4KMMix) {
  GenSpec s;
  s.n_layer = 8;
  s.mix = "q4_k_m";
  Image im = Generate(s);
  ASSERT_TRUE(im.file);
  EXPECT_EQ(im.file->metadata().GetUintOr("general.file_type", 0), 15u);  // MOSTLY_Q4_K_M
  EXPECT_EQ(im.file->FindTensor("output.weight")->type, DType::kQ6_K);
  EXPECT_EQ(im.file->FindTensor("token_embd.weight")->type, DType::kQ4_K);
  // llama-quantize's use_more_bits(i, 8): i < 1 || i >= 7 || (i - 1) % 3 == 2 -> 0, 3, 6, 7.
  for (int i = 0; i < 8; ++i) {
    const bool more = i == 0 || i == 3 || i == 6 || i == 7;
    const std::string p = "blk." + std::to_string(i) + ".";
    const DType want = more ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(im.file->FindTensor(p + "attn_v.weight")->type, want) << i;
    EXPECT_EQ(im.file->FindTensor(p + "ffn_down.weight")->type, want) << i;
    EXPECT_EQ(im.file->FindTensor(p + "attn_q.weight")->type, DType::kQ4_K) << i;
  }
  // Tied: token_embd takes the output's type, as llama-quantize does.
  s.tied_output = true;
  Image tied = Generate(s);
  ASSERT_TRUE(tied.file);
  EXPECT_EQ(tied.file->FindTensor("token_embd.weight")->type, DType::kQ6_K);
  EXPECT_EQ(tied.file->FindTensor("output.weight"), nullptr);

  const std::pair<DType, uint64_t> ftypes[] = {
      {DType::kF32, 0},   {DType::kF16, 1},   {DType::kQ4_0, 2},    {DType::kQ8_0, 7},
      {DType::kQ6_K, 18}, {DType::kBF16, 32}, {DType::kIQ4_NL, 25}, {DType::kIQ4_XS, 30}};
  for (auto [t, ft] : ftypes) {
    GenSpec p;
    p.type = t;
    p.n_layer = 1;
    Image f = Generate(p);
    ASSERT_TRUE(f.file);
    EXPECT_EQ(f.file->metadata().GetUintOr("general.file_type", 99), ft) << DTypeName(t);
  }
}

TEST(Generate, DeterministicPerSeed) {
  GenSpec s;
  s.type = DType::kQ4_0;
  gguf::Writer w1, w2, w3;
  ASSERT_TRUE(model::GenerateModelWriter(s, &w1).ok());
  ASSERT_TRUE(model::GenerateModelWriter(s, &w2).ok());
  s.seed = 2;
  ASSERT_TRUE(model::GenerateModelWriter(s, &w3).ok());
  const std::vector<uint8_t> a = w1.Serialize(), b = w2.Serialize(), c = w3.Serialize();
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
}

TEST(Generate, WeightStatistics) {
  GenSpec s;
  s.type = DType::kF32;
  Image im = Generate(s);
  ASSERT_TRUE(im.file);
  auto stats = [&](const std::string& name, double* mean, double* sd) {
    const gguf::TensorInfo* t = im.file->FindTensor(name);
    ASSERT_NE(t, nullptr);
    const float* v = reinterpret_cast<const float*>(t->data);
    const int64_t n = t->n_elements();
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) s1 += v[i], s2 += double{v[i]} * v[i];
    *mean = s1 / static_cast<double>(n);
    *sd = std::sqrt(s2 / static_cast<double>(n) - *mean * *mean);
  };
  double m, sd;
  stats("blk.0.attn_q.weight", &m, &sd);  // 65536 values: sd within 2% of 1/sqrt(256)
  EXPECT_NEAR(m, 0.0, 0.002);
  EXPECT_NEAR(sd, 1.0 / 16, 0.02 / 16);
  stats("blk.1.ffn_down.weight", &m, &sd);  // fan_in 512
  EXPECT_NEAR(sd, 1.0 / std::sqrt(512.0), 0.02 / std::sqrt(512.0));
  stats("token_embd.weight", &m, &sd);
  EXPECT_NEAR(sd, 1.0, 0.02);
  stats("blk.0.attn_norm.weight", &m, &sd);
  EXPECT_NEAR(m, 1.0, 0.03);
  EXPECT_GT(sd, 0.05);
  EXPECT_LT(sd, 0.15);
  // Distinct tensors get distinct streams.
  const gguf::TensorInfo* q0 = im.file->FindTensor("blk.0.attn_q.weight");
  const gguf::TensorInfo* q1 = im.file->FindTensor("blk.1.attn_q.weight");
  EXPECT_NE(std::memcmp(q0->data, q1->data, q0->bytes), 0);
}

TEST(Generate, BuiltinTokenizer) {
  GenSpec s;
  s.n_layer = 1;
  Image im = Generate(s);
  ASSERT_TRUE(im.file);
  const gguf::Metadata& md = im.file->metadata();
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.model", ""), "gpt2");
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.pre", ""), "llama-bpe");
  auto tok = model::Tokenizer::FromMetadata(md);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const model::Tokenizer& t = **tok;
  const int32_t n = t.n_vocab();
  EXPECT_GT(n, 256 + 3);
  EXPECT_EQ(t.bos(), n - 3);
  EXPECT_EQ(t.eos(), n - 2);
  EXPECT_TRUE(t.IsEog(n - 1));  // <|eot_id|>
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.TokenToPiece(' '), " ");  // byte tokens first, in byte order
  EXPECT_EQ(t.TokenToPiece(0xE9), "\xE9");
  const std::string text = "the quick brown fox jumps over the lazy dog";
  const std::vector<int32_t> ids = t.Encode(text, true, true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], t.bos());
  EXPECT_LE(ids.size(), 1 + text.size() / 3);  // the merges cover these words
  EXPECT_EQ(t.Decode(std::vector<int32_t>(ids.begin() + 1, ids.end())), text);
  EXPECT_EQ(t.Encode("<|eot_id|>", false, true), std::vector<int32_t>{n - 1});
  for (int32_t id : t.Encode("h\xC3\xA9llo \xF0\x9F\x90\x9F", false, false)) {
    EXPECT_LT(id, t.bos());
  }

  // Padding with reserved control tokens; too small a vocabulary is an error.
  s.n_vocab = 1000;
  Image padded = Generate(s);
  ASSERT_TRUE(padded.file);
  auto toks = padded.file->metadata().GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(toks.ok());
  ASSERT_EQ(toks->size(), 1000u);
  EXPECT_EQ(toks->back().rfind("<|reserved_", 0), 0u);
  EXPECT_EQ(padded.file->FindTensor("output.weight")->shape[1], 1000);
  s.n_vocab = 300;  // fewer merges
  Image small = Generate(s);
  ASSERT_TRUE(small.file);
  auto tsmall = model::Tokenizer::FromMetadata(small.file->metadata());
  ASSERT_TRUE(tsmall.ok()) << tsmall.status().ToString();
  EXPECT_EQ((*tsmall)->n_vocab(), 300);
  EXPECT_EQ((*tsmall)->bos(), 297);
  s.n_vocab = 258;
  gguf::Writer w;
  EXPECT_EQ(model::GenerateModelWriter(s, &w).code(), StatusCode::kInvalidArgument);
}

TEST(Generate, ExternalTokenizerMetadata) {
  auto builtin = model::BuiltinTokenizerMetadata(400);
  ASSERT_TRUE(builtin.ok());
  gguf::Metadata md = *builtin;
  md.Set("tokenizer.ggml.pre", gguf::Value::Str("default"));
  md.Set("general.name", gguf::Value::Str("not copied"));
  GenSpec s;
  s.tokenizer = &md;
  s.n_layer = 1;
  Image im = Generate(s);
  ASSERT_TRUE(im.file);
  EXPECT_EQ(im.file->metadata().GetStringOr("tokenizer.ggml.pre", ""), "default");
  EXPECT_NE(im.file->metadata().GetStringOr("general.name", ""), "not copied");
  EXPECT_EQ(im.file->FindTensor("token_embd.weight")->shape[1], 400);
  s.n_vocab = 500;  // disagrees with the tokenizer
  gguf::Writer w;
  EXPECT_EQ(model::GenerateModelWriter(s, &w).code(), StatusCode::kInvalidArgument);
}

TEST(Generate, BadSpecs) {
  auto code = [](GenSpec s) {
    gguf::Writer w;
    return model::GenerateModelWriter(s, &w).code();
  };
  GenSpec s;
  s.arch = "gpt2";
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.n_head_kv = 3;
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.n_embd = 250;  // not a multiple of n_head
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.n_embd = 128;
  s.type = DType::kQ4_K;  // rows of 128 are not whole super-blocks
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.type = DType::kIQ3_XXS;
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.mix = "q5_k_m";
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.arch = "qwen2";
  s.llama3_rope_scaling = true;
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.n_layer = 0;
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  s = GenSpec();
  s.head_dim = 33;
  EXPECT_EQ(code(s), StatusCode::kInvalidArgument);
  EXPECT_FALSE(model::GenerateModel(GenSpec(), "/nonexistent-dir/x.gguf").ok());
}

// Llama 3.1 8B (base 500000, head_dim 128): the published rope_freqs are 1 for the 32 fastest
// pairs... 8 for the slowest; the boundary pairs follow the smooth ramp.
TEST(Generate, Llama3RopeFactors) {
  const std::vector<float> f = model::Llama3RopeFactors(500000.0f, 128);
  ASSERT_EQ(f.size(), 64u);
  for (size_t i = 0; i < f.size(); ++i) {
    // Independent recomputation of the Llama 3.1 rule from its definition.
    const double freq = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128.0);
    const double wavelen = 2 * M_PI / freq;
    double want;
    if (wavelen < 8192.0 / 4) {
      want = 1;
    } else if (wavelen > 8192.0) {
      want = 8;
    } else {
      const double smooth = (8192.0 / wavelen - 1) / 3;
      want = 1 / ((1 - smooth) / 8 + smooth);
    }
    EXPECT_NEAR(f[i], want, 1e-4 * want) << i;
  }
  EXPECT_EQ(f.front(), 1.0f);
  EXPECT_EQ(f.back(), 8.0f);
}

// The reference forward pass on generated models: finite, O(1) logits with a clear spread, causal
// (a prefix's logits do not depend on what follows), and quantization only perturbs them.
TEST(Reference, SaneLogits) {
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    SCOPED_TRACE(arch);
    GenSpec s;
    s.arch = arch;
    s.type = DType::kF32;
    Image im = Generate(s);
    ASSERT_TRUE(im.file);
    auto ref = golden::RefModel::Load(*im.file);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    const std::vector<int32_t> ids = {400, 72, 101, 108, 108, 111, 32, 300, 260, 7};
    const auto all = ref->Forward(ids);
    const auto prefix = ref->Forward(std::vector<int32_t>(ids.begin(), ids.begin() + 4));
    ASSERT_EQ(all.size(), ids.size());
    for (size_t t = 0; t < all.size(); ++t) {
      double s1 = 0, s2 = 0;
      for (double x : all[t]) {
        ASSERT_TRUE(std::isfinite(x));
        s1 += x, s2 += x * x;
      }
      const double n = static_cast<double>(all[t].size()), sd = std::sqrt(s2 / n - s1 * s1 / n / n);
      EXPECT_GT(sd, 0.3) << t;
      EXPECT_LT(sd, 5.0) << t;
      if (t < prefix.size()) {
        for (size_t i = 0; i < all[t].size(); ++i) ASSERT_NEAR(all[t][i], prefix[t][i], 1e-9);
      }
    }
    // Different positions of the same token (108, 108) differ: rope and attention act.
    double diff = 0;
    for (size_t i = 0; i < all[3].size(); ++i) diff += std::fabs(all[3][i] - all[4][i]);
    EXPECT_GT(diff / static_cast<double>(all[3].size()), 0.05);

    s.type = DType::kQ8_0;
    Image q = Generate(s);
    ASSERT_TRUE(q.file);
    auto rq = golden::RefModel::Load(*q.file);
    ASSERT_TRUE(rq.ok());
    const auto lq = rq->Forward(ids);
    double maxd = 0;
    for (size_t t = 0; t < lq.size(); ++t) {
      for (size_t i = 0; i < lq[t].size(); ++i)
        maxd = std::max(maxd, std::fabs(lq[t][i] - all[t][i]));
    }
    EXPECT_GT(maxd, 1e-6);  // the weights did change
    EXPECT_LT(maxd, 0.2);   // but q8_0 weights are within 1% of f32
  }
}

}  // namespace
}  // namespace shoal
