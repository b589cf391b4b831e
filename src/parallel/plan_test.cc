#include "parallel/plan.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string_view>

#include "parallel/presets.h"

namespace shoal::parallel {
namespace {

// A llama-shaped model description (no weights): the engine issue's ~1B shape by default.
ModelDesc Llama(int32_t n_head = 32, int32_t n_head_kv = 8, DType type = DType::kQ4_0,
                int32_t n_layer = 16) {
  ModelDesc d;
  model::ModelConfig& c = d.config;
  c.arch = "llama";
  c.n_vocab = 128256;
  c.n_ctx_train = 4096;
  c.n_embd = 2048;
  c.n_layer = n_layer;
  c.n_head = n_head;
  c.n_head_kv = n_head_kv;
  c.head_dim_k = c.head_dim_v = c.n_embd / n_head;
  c.n_ff = 5632;
  c.rope_dim = c.head_dim_k;
  model::ForEachDecoderTensor(c, [&](const model::TensorSpec& s) {
    d.tensors.push_back({s, s.matrix ? type : DType::kF32});
  });
  return d;
}

NodeSpec Node(double gib, int threads = 2, double bw = 0, std::string name = "") {
  return NodeSpec{std::move(name), uint64_t(gib * double(uint64_t{1} << 30)), threads, bw};
}

// Every dimension is covered exactly once, in rank order, within each stage.
void ExpectPartition(const Plan& p) {
  for (int s = 0; s < p.options.stages; ++s) {
    int32_t h = 0, f = 0, v = 0;
    for (int r : p.StageRanks(s)) {
      const model::Shard& sh = p.ranks[r].shard;
      EXPECT_EQ(sh.heads.begin, h);
      EXPECT_EQ(sh.ff.begin, f);
      EXPECT_EQ(sh.vocab.begin, v);
      h = sh.heads.end, f = sh.ff.end, v = sh.vocab.end;
      EXPECT_TRUE(model::ValidateShard(p.config, sh).ok()) << sh.ToString();
    }
    EXPECT_EQ(h, p.config.n_head);
    EXPECT_EQ(f, p.config.n_ff);
    EXPECT_EQ(v, p.config.n_vocab);
  }
}

TEST(Apportion, ProportionalContiguousAndDeterministic) {
  const auto r = Apportion(10, 32, {1, 2, 1});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], (model::Range{0, 3 * 32}));  // 2.5 -> 3 (tie to the lower index), 5, 2
  EXPECT_EQ(r[1], (model::Range{96, 256}));
  EXPECT_EQ(r[2], (model::Range{256, 320}));
  const auto z = Apportion(7, 1, {0, 1, 0});
  EXPECT_TRUE(z[0].empty());
  EXPECT_EQ(z[1].size(), 7);
  EXPECT_TRUE(z[2].empty());
  const auto eq = Apportion(5, 1, {0, 0});
  EXPECT_EQ(eq[0].size() + eq[1].size(), 5);
}

TEST(Plan, OneNodeHoldsTheWholeModel) {
  const ModelDesc m = Llama();
  auto p = MakePlan(m, {Node(24)}, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(p->fits) << p->why_not;
  EXPECT_TRUE(p->ranks[0].shard.IsWhole(m.config));
  EXPECT_EQ(p->ranks[0].weight_bytes, m.weight_bytes());
}

TEST(Plan, SplitsFollowBandwidthAndRespectBlocks) {
  const ModelDesc m = Llama(32, 8, DType::kQ4_K);
  auto p = MakePlan(m, {Node(8, 2, 10), Node(8, 2, 20), Node(8, 2, 10)}, {});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->fits) << p->why_not;
  ExpectPartition(*p);
  EXPECT_NEAR(p->ranks[1].share, 0.5, 1e-9);
  for (const RankPlan& r : p->ranks) {
    EXPECT_EQ(r.shard.ff.begin % 256, 0);          // ffn_down is Q4_K: 256-value blocks
    EXPECT_EQ(r.shard.heads.begin * 64 % 256, 0);  // attn_output columns too
  }
  EXPECT_GT(p->ranks[1].weight_bytes, p->ranks[0].weight_bytes * 17 / 10);
  // The slices add up to the model plus the replicated vectors.
  uint64_t sum = 0;
  for (const RankPlan& r : p->ranks) sum += r.weight_bytes;
  EXPECT_GE(sum, m.weight_bytes());
  EXPECT_LT(sum, m.weight_bytes() + 3 * uint64_t(16 * 2 * 2048 * 4 + 2048 * 4));
}

TEST(Plan, MoreNodesThanKvHeadsReplicateKvHeads) {
  const ModelDesc m = Llama(32, 4, DType::kQ8_0);
  std::vector<NodeSpec> nodes(7, Node(4));
  auto p = MakePlan(m, nodes, {});
  ASSERT_TRUE(p.ok());
  ExpectPartition(*p);
  int kv_total = 0;
  for (const RankPlan& r : p->ranks) kv_total += r.shard.kv_heads.size();
  EXPECT_GT(kv_total, 4);  // some KV heads are held by two ranks
}

TEST(Plan, SmallNodeIsCappedAndTheRestSpreads) {
  const ModelDesc m = Llama();  // ~0.7 GiB of q4_0 weights
  const double model_gib = double(m.weight_bytes()) / double(1 << 30);
  PlanOptions o;
  o.n_ctx = 256;
  o.reserve_bytes = 0;
  // Node 0 has the most bandwidth but room for only a fifth of the model.
  auto p = MakePlan(
      m, {Node(model_gib * 0.2, 2, 50), Node(model_gib, 2, 10), Node(model_gib, 2, 10)}, o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->fits) << p->why_not;
  ExpectPartition(*p);
  EXPECT_LT(p->ranks[0].share, 0.2);
  for (const RankPlan& r : p->ranks) EXPECT_LE(r.need_bytes, p->nodes[r.rank].memory_bytes);
}

TEST(Plan, SaysWhenThePoolIsTooSmall) {
  const ModelDesc m = Llama();
  const double model_gib = double(m.weight_bytes()) / double(1 << 30);
  auto p = MakePlan(m, {Node(model_gib * 0.3), Node(model_gib * 0.3)}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->fits);
  EXPECT_NE(p->why_not.find("pool only"), std::string::npos) << p->why_not;
  EXPECT_NE(p->ToText().find("does not fit"), std::string::npos);
}

// A paged cache for several sequences (the server's --parallel) is planned at its full size:
// each rank's KV bytes are those of kv_tokens slots (against the model's own KV formula), and a
// pool that holds one sequence's cache but not eight is told so.
TEST(Plan, KvTokensSizeEveryRanksCache) {
  const ModelDesc m = Llama();
  PlanOptions one;
  one.n_ctx = 4096;
  PlanOptions eight = one;
  eight.kv_tokens = 8 * 4096;
  auto p1 = MakePlan(m, {Node(24), Node(24)}, one);
  auto p8 = MakePlan(m, {Node(24), Node(24)}, eight);
  ASSERT_TRUE(p1.ok() && p8.ok());
  ASSERT_TRUE(p1->fits && p8->fits);
  uint64_t kv1 = 0, kv8 = 0;
  for (const RankPlan& r : p1->ranks) kv1 += r.kv_bytes;
  for (const RankPlan& r : p8->ranks) kv8 += r.kv_bytes;
  EXPECT_EQ(kv1, m.config.KvCacheBytes(4096));
  EXPECT_EQ(kv8, m.config.KvCacheBytes(8 * 4096));
  // Room for the weights and one sequence's cache, not eight.
  const double gib = double(m.weight_bytes() + m.config.KvCacheBytes(4096 * 2)) / double(1 << 30);
  one.reserve_bytes = eight.reserve_bytes = 0;
  auto small1 = MakePlan(m, {Node(gib / 2), Node(gib / 2)}, one);
  auto small8 = MakePlan(m, {Node(gib / 2), Node(gib / 2)}, eight);
  ASSERT_TRUE(small1.ok() && small8.ok());
  EXPECT_TRUE(small1->fits) << small1->why_not;
  EXPECT_FALSE(small8->fits);
  EXPECT_NE(small8->why_not.find("for 32768 tokens"), std::string::npos) << small8->why_not;
  PlanOptions bad = one;
  bad.kv_tokens = -1;
  EXPECT_FALSE(MakePlan(m, {Node(24)}, bad).ok());
}

TEST(Plan, PipelineStagesSplitLayers) {
  const ModelDesc m = Llama();
  PlanOptions o;
  o.stages = 2;
  auto p = MakePlan(m, {Node(8, 1), Node(8, 1), Node(8, 2)}, o);
  ASSERT_TRUE(p.ok());
  ExpectPartition(*p);
  EXPECT_EQ(p->ranks[0].shard.layers.begin, 0);
  EXPECT_EQ(p->ranks[0].shard.layers, p->ranks[1].shard.layers);
  EXPECT_EQ(p->ranks[2].shard.layers.begin, p->ranks[0].shard.layers.end);
  EXPECT_EQ(p->ranks[2].shard.layers.end, 16);
  EXPECT_TRUE(p->ranks[0].shard.first_stage && !p->ranks[0].shard.last_stage);
  EXPECT_TRUE(!p->ranks[2].shard.first_stage && p->ranks[2].shard.last_stage);
  EXPECT_FALSE(MakePlan(m, {Node(8)}, o).ok());  // more stages than nodes
}

TEST(Plan, JsonRoundTrip) {
  auto p = MakePlan(Llama(), {Node(8, 2, 0, "a:1"), Node(6, 1, 0, "b:2")}, {});
  ASSERT_TRUE(p.ok());
  auto q = Plan::FromJson(nlohmann::json::parse(p->ToJson().dump()));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->ranks.size(), 2u);
  for (int r = 0; r < 2; ++r) EXPECT_EQ(q->ranks[r].shard, p->ranks[r].shard);
  EXPECT_EQ(q->nodes[1].name, "b:2");
  EXPECT_FALSE(Plan::FromJson(nlohmann::json::parse(R"({"arch": 3})")).ok());
  auto bad = p->ToJson();
  bad["ranks"][0]["heads"] = "x";
  EXPECT_FALSE(Plan::FromJson(bad).ok());
}

TEST(NodeSpec, Parses) {
  auto n = ParseNodeSpec("mem=24G,threads=8,bw=100,name=a");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->memory_bytes, uint64_t(24) << 30);
  EXPECT_EQ(n->threads, 8);
  EXPECT_EQ(n->bandwidth_gbs, 100);
  EXPECT_EQ(n->name, "a");
  EXPECT_EQ(ParseNodeSpec("mem=512MiB")->memory_bytes, uint64_t(512) << 20);
  EXPECT_FALSE(ParseNodeSpec("threads=2").ok());
  EXPECT_FALSE(ParseNodeSpec("mem=1Q").ok());
  EXPECT_FALSE(ParseNodeSpec("mem=4G,threads=0").ok());
  EXPECT_FALSE(ParseNodeSpec("mem=4G,color=red").ok());
  EXPECT_FALSE(ParseNodeSpec("mem").ok());
}

}  // namespace
}  // namespace shoal::parallel

namespace shoal::parallel {
namespace {

// A deepseek2-shaped MoE description (no weights): 64 experts of 512 columns, MLA.
ModelDesc Moe(std::string_view type) {
  model::ModelConfig c;
  c.arch = "deepseek2";
  c.n_vocab = 32000;
  c.n_ctx_train = 4096;
  c.n_embd = 1024;
  c.n_layer = 4;
  c.n_head = 16;
  c.n_head_kv = 1;
  c.n_ff = 2816;
  c.mla = true;
  c.kv_lora_rank = 256;
  c.rope_dim = 32;
  c.mla_k_dim = 96;
  c.mla_v_dim = 64;
  c.head_dim_k = c.kv_lora_rank + c.rope_dim;
  c.head_dim_v = c.kv_lora_rank;
  c.n_expert = 64;
  c.n_expert_used = 6;
  c.n_ff_exp = 512;
  c.n_expert_shared = 1;
  c.n_layer_dense_lead = 1;
  auto d = DescribeConfig(c, type);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : ModelDesc{};
}

// Experts (or their columns), shared-expert columns and heads each covered once per stage.
void ExpectMoePartition(const Plan& p) {
  const bool columns = p.options.expert_split == ExpertSplit::kColumns;
  for (int s = 0; s < p.options.stages; ++s) {
    int32_t e = 0, f = 0, sh = 0, h = 0;
    for (int r : p.StageRanks(s)) {
      const model::Shard& x = p.ranks[r].shard;
      EXPECT_TRUE(model::ValidateShard(p.config, x).ok()) << x.ToString();
      if (columns) {
        EXPECT_EQ(x.experts, (model::Range{0, p.config.n_expert}));
        EXPECT_EQ(x.exp_ff.begin, f);
        EXPECT_EQ(x.exp_ff.begin % 32, 0);
        f = x.exp_ff.end;
      } else {
        EXPECT_EQ(x.exp_ff, (model::Range{0, p.config.n_ff_exp}));
        EXPECT_EQ(x.experts.begin, e);
        e = x.experts.end;
      }
      EXPECT_EQ(x.shexp.begin, sh);
      EXPECT_EQ(x.heads.begin, h);
      sh = x.shexp.end, h = x.heads.end;
    }
    EXPECT_EQ(columns ? f : e, columns ? p.config.n_ff_exp : p.config.n_expert);
    EXPECT_EQ(sh, p.config.n_ff_exp * p.config.n_expert_shared);
    EXPECT_EQ(h, p.config.n_head);
  }
}

TEST(Plan, MixtureOfExpertsSplitsExpertsOrTheirColumns) {
  const ModelDesc m = Moe("q8_0");
  const std::vector<NodeSpec> nodes = {Node(8, 1), Node(8, 2), Node(8, 1)};
  for (ExpertSplit split : {ExpertSplit::kExperts, ExpertSplit::kColumns}) {
    PlanOptions o;
    o.expert_split = split;
    auto p = MakePlan(m, nodes, o);
    ASSERT_TRUE(p.ok() && p->fits);
    EXPECT_EQ(p->options.expert_split, split);
    ExpectMoePartition(*p);
    // Shares follow threads 1:2:1: the middle rank holds half of the experts (or columns).
    const model::Shard& mid = p->ranks[1].shard;
    EXPECT_EQ(split == ExpertSplit::kExperts ? mid.experts.size() : mid.exp_ff.size(),
              split == ExpertSplit::kExperts ? 32 : 256);
    // The expert bytes of the three shards add up to the model's: nothing held twice.
    uint64_t expert_bytes = 0;
    for (const RankPlan& r : p->ranks) {
      for (const ModelDesc::Tensor& t : m.tensors) {
        if (t.spec.role != model::TensorRole::kFfnGateExps &&
            t.spec.role != model::TensorRole::kFfnDownExps) {
          continue;
        }
        const model::TensorSlice s = model::SliceFor(m.config, r.shard, t.spec);
        expert_bytes += uint64_t(s.held_rows()) * RowBytes(t.type, s.col_end - s.col_begin);
      }
    }
    uint64_t whole = 0;
    for (const ModelDesc::Tensor& t : m.tensors) {
      if (t.spec.role == model::TensorRole::kFfnGateExps ||
          t.spec.role == model::TensorRole::kFfnDownExps) {
        whole += uint64_t(t.spec.shape[1] * t.spec.shape[2]) * RowBytes(t.type, t.spec.shape[0]);
      }
    }
    EXPECT_EQ(expert_bytes, whole);
    auto back = Plan::FromJson(p->ToJson());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->ranks[1].shard, p->ranks[1].shard);
  }
}

TEST(Plan, AutoSplitsColumnsWhileTheyDivideElseExperts) {
  // q8_0: 512 columns are 16 blocks of 32: columns up to 16 ranks a stage.
  auto p = MakePlan(Moe("q8_0"), {Node(8), Node(8), Node(8)}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->options.expert_split, ExpertSplit::kColumns);
  // q4_K: blocks of 256, 2 units: 3 ranks take whole experts.
  p = MakePlan(Moe("q4_k"), {Node(8), Node(8), Node(8)}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->options.expert_split, ExpertSplit::kExperts);
  ExpectMoePartition(*p);
  PlanOptions two;
  two.stages = 2;  // 2 + 1 ranks: 2 units suffice
  p = MakePlan(Moe("q4_k"), {Node(8), Node(8), Node(8)}, two);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->options.expert_split, ExpertSplit::kColumns);
  ExpectMoePartition(*p);
}

}  // namespace
}  // namespace shoal::parallel
