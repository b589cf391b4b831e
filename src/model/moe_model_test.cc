// qwen3moe / deepseek2: configuration from metadata, tensor lists, loading generated files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "model/arch.h"
#include "model/config.h"
#include "model/generate.h"
#include "model/model.h"

namespace shoal::model {
namespace {

GenSpec DeepseekSpec() {
  GenSpec s;
  s.arch = "deepseek2";
  s.n_layer = 3;
  s.n_expert = 16;
  s.n_expert_used = 4;
  s.n_expert_groups = 4;
  s.n_group_used = 2;
  s.yarn_factor = 4;
  s.type = DType::kF32;
  return s;
}

std::vector<uint8_t> Image(const GenSpec& s) {
  gguf::Writer w;
  EXPECT_TRUE(GenerateModelWriter(s, &w).ok());
  return w.Serialize();
}

StatusOr<std::unique_ptr<Model>> Load(const std::vector<uint8_t>& img, const LoadOptions& o = {}) {
  auto f = gguf::File::FromMemory(img.data(), img.size());
  if (!f.ok()) return f.status();
  return Model::FromFile(std::move(f).value(), o);
}

std::vector<std::string> Names(const Model& m) {
  std::vector<std::string> out;
  FindArch(m.config().arch)->for_each_tensor(m.config(), [&](const TensorSpec& s) {
    out.push_back(s.name);
  });
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(Moe, Qwen3MoeConfigAndTensors) {
  GenSpec s;
  s.arch = "qwen3moe";
  s.type = DType::kF32;
  const auto img = Image(s);
  auto m = Load(img);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.n_expert, 8);
  EXPECT_EQ(c.n_expert_used, 2);
  EXPECT_EQ(c.n_ff_exp, 256);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.expert_weights_norm);
  EXPECT_EQ(c.expert_gating, ExpertGating::kSoftmax);
  EXPECT_TRUE(c.IsMoeLayer(0));
  const auto names = Names(**m);
  EXPECT_TRUE(Has(names, "blk.1.ffn_gate_exps.weight"));
  EXPECT_TRUE(Has(names, "blk.0.ffn_gate_inp.weight"));
  EXPECT_FALSE(Has(names, "blk.0.ffn_gate.weight"));
  const LayerWeights& L = (*m)->weights().layers[1];
  EXPECT_EQ(L.gate_exps.rows, 8 * 256);
  EXPECT_EQ(L.down_exps.rows, 8 * 256);
  EXPECT_EQ(L.down_exps.cols, 256);
  EXPECT_EQ(L.ffn_gate_inp.type, DType::kF32);
}

TEST(Moe, Deepseek2ConfigAndTensors) {
  const auto img = Image(DeepseekSpec());
  auto m = Load(img);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const ModelConfig& c = (*m)->config();
  EXPECT_TRUE(c.mla);
  EXPECT_FALSE(c.mla_kv_b);
  EXPECT_EQ(c.n_head_kv, 1);
  EXPECT_EQ(c.q_lora_rank, 128);
  EXPECT_EQ(c.kv_lora_rank, 64);
  EXPECT_EQ(c.rope_dim, 32);
  EXPECT_EQ(c.mla_k_dim, 64);
  EXPECT_EQ(c.mla_v_dim, 32);
  EXPECT_EQ(c.qk_nope_dim(), 32);
  EXPECT_EQ(c.rope_style, RopeStyle::kNormal);
  EXPECT_EQ(c.rope_scaling, RopeScaling::kYarn);
  EXPECT_EQ(c.expert_gating, ExpertGating::kSigmoid);
  EXPECT_TRUE(c.has_exp_probs_b);
  EXPECT_EQ(c.n_expert_groups, 4);
  EXPECT_EQ(c.n_group_used, 2);
  EXPECT_EQ(c.n_expert_shared, 1);
  EXPECT_EQ(c.n_layer_dense_lead, 1);
  EXPECT_FLOAT_EQ(c.expert_weights_scale, 2.5f);
  EXPECT_FALSE(c.IsMoeLayer(0));
  EXPECT_TRUE(c.IsMoeLayer(1));
  // yarn_log_multiplier 0.1 (mscale_all_dim 1): rope keeps cos/sin at 1, the scores carry
  // (1 + 0.1 ln 4)^2 / sqrt(64).
  EXPECT_NEAR(c.yarn_attn_factor * (1 + 0.1 * std::log(4.0)), 1.0, 1e-6);
  const double m1 = 1 + 0.1 * std::log(4.0);
  EXPECT_NEAR(c.attn_scale, m1 * m1 / 8.0, 1e-6);
  // The latent cache: 3 layers x (64 + 32) values x 2 bytes per position.
  EXPECT_EQ(c.KvCacheBytes(10), 10u * 3 * 96 * 2);
  const auto names = Names(**m);
  EXPECT_TRUE(Has(names, "blk.0.ffn_gate.weight"));
  EXPECT_TRUE(Has(names, "blk.1.exp_probs_b.bias"));
  EXPECT_TRUE(Has(names, "blk.2.ffn_down_shexp.weight"));
  EXPECT_TRUE(Has(names, "blk.0.attn_k_b.weight"));
  EXPECT_TRUE(Has(names, "blk.0.attn_q_a_norm.weight"));
  EXPECT_FALSE(Has(names, "blk.0.attn_q.weight"));
  const LayerWeights& L = (*m)->weights().layers[0];
  EXPECT_EQ(L.wk_b.rows, 4 * 64);
  EXPECT_EQ(L.wk_b.cols, 32);
  EXPECT_EQ(L.wv_b.rows, 4 * 32);
  EXPECT_EQ(L.wkv_a.rows, 96);
}

TEST(Moe, Deepseek2OlderKvBIsSplitAtLoad) {
  GenSpec s = DeepseekSpec();
  s.legacy_kv_b = true;
  s.q_lora_rank = 0;
  const auto img = Image(s);
  auto m = Load(img);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const ModelConfig& c = (*m)->config();
  EXPECT_TRUE(c.mla_kv_b);
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_EQ(c.mla_k_dim, 64);
  EXPECT_EQ(c.head_dim_k, 96);  // kv_lora + rope, the absorbed form
  const LayerWeights& L = (*m)->weights().layers[0];
  EXPECT_EQ(L.wk_b.type, DType::kF32);
  EXPECT_EQ(L.wk_b.rows, 4 * 64);
  EXPECT_EQ(L.wv_b.rows, 4 * 32);
  EXPECT_TRUE(L.wq);
}

// An expert-parallel shard holds whole experts (rows of the 3-D expert tensors), its slice of
// the shared experts' columns and its heads of the MLA projections; the router and the latent
// projection stay whole.
TEST(Moe, ExpertShardHoldsItsExpertsAndHeads) {
  GenSpec spec = DeepseekSpec();
  spec.type = DType::kQ8_0;
  spec.n_expert_shared = 2;
  const auto img = Image(spec);
  LoadOptions o;
  o.repack = false;  // weights as in the file, to compare addresses
  auto whole = Load(img, o);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  const ModelConfig& c = (*whole)->config();
  o.shard = Shard::Whole(c);
  o.shard->experts = {5, 11};
  o.shard->shexp = {64, 256};
  o.shard->heads = {1, 3};
  auto part = Load(img, o);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  const LayerWeights& W = (*whole)->weights().layers[1];
  const LayerWeights& P = (*part)->weights().layers[1];
  const int64_t F = c.n_ff_exp, E = c.n_embd;
  EXPECT_EQ(P.gate_exps.rows, 6 * F);
  EXPECT_EQ(P.gate_exps.data, W.gate_exps.data + size_t(5 * F) * W.gate_exps.row_bytes);
  EXPECT_EQ(P.down_exps.rows, 6 * E);
  EXPECT_EQ(P.down_exps.data, W.down_exps.data + size_t(5 * E) * W.down_exps.row_bytes);
  EXPECT_EQ(P.ffn_gate_inp.rows, c.n_expert);
  EXPECT_EQ(P.up_shexp.rows, 192);
  EXPECT_EQ(P.up_shexp.data, W.up_shexp.data + size_t(64) * W.up_shexp.row_bytes);
  ASSERT_EQ(P.down_shexp.cols, 192);  // a column slice, copied: row r = columns 64..256 of W's
  for (int64_t r : {int64_t{0}, E - 1}) {
    EXPECT_EQ(0, std::memcmp(P.down_shexp.data + size_t(r) * P.down_shexp.row_bytes,
                             W.down_shexp.data + size_t(r) * W.down_shexp.row_bytes +
                                 RowBytes(W.down_shexp.type, 64),
                             P.down_shexp.row_bytes));
  }
  EXPECT_EQ(P.wq_b.rows, 2 * c.mla_k_dim);
  EXPECT_EQ(P.wq_b.data, W.wq_b.data + size_t(c.mla_k_dim) * W.wq_b.row_bytes);
  EXPECT_EQ(P.wk_b.rows, 2 * c.kv_lora_rank);
  EXPECT_EQ(P.wv_b.rows, 2 * c.mla_v_dim);
  EXPECT_EQ(P.wo.cols, 2 * c.mla_v_dim);
  EXPECT_EQ(P.wkv_a.rows, W.wkv_a.rows);
  EXPECT_LT((*part)->weight_bytes(), (*whole)->weight_bytes());
  // Out-of-range experts are refused.
  o.shard->experts = {10, 17};
  auto bad = Load(img, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Moe, ConfigErrors) {
  GenSpec s;
  s.arch = "qwen3moe";
  s.type = DType::kF32;
  gguf::Writer w;
  ASSERT_TRUE(GenerateModelWriter(s, &w).ok());
  gguf::Metadata md = w.metadata();
  md.Set("qwen3moe.expert_used_count", gguf::Value::U32(9));
  EXPECT_EQ(ParseConfig(md).status().code(), StatusCode::kInvalidArgument);
  md.Set("qwen3moe.expert_used_count", gguf::Value::U32(2));
  md.Set("qwen3moe.expert_group_count", gguf::Value::U32(3));
  md.Set("qwen3moe.expert_group_used_count", gguf::Value::U32(1));
  EXPECT_EQ(ParseConfig(md).status().code(), StatusCode::kInvalidArgument);
  gguf::Metadata md2;
  for (const auto& [k, v] : w.metadata().entries()) {
    if (k != "qwen3moe.expert_count") md2.Set(k, v);
  }
  EXPECT_EQ(ParseConfig(md2).status().code(), StatusCode::kNotFound);
  // Bad generator specs.
  s.n_expert_used = 9;
  gguf::Writer w2;
  EXPECT_EQ(GenerateModelWriter(s, &w2).code(), StatusCode::kInvalidArgument);
  GenSpec d = DeepseekSpec();
  d.n_group_used = 4;
  gguf::Writer w3;
  EXPECT_EQ(GenerateModelWriter(d, &w3).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::model
