#include "parallel/cost.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "format/gguf.h"
#include "model/generate.h"
#include "parallel/presets.h"

namespace shoal::parallel {
namespace {

NodeSpec Node(double gib, int threads, double bw) {
  return NodeSpec{"", uint64_t(gib * double(uint64_t{1} << 30)), threads, bw};
}

model::ModelConfig LlamaShape() {
  model::ModelConfig c;
  c.arch = "llama";
  c.n_vocab = 32000;
  c.n_embd = 1024;
  c.n_layer = 4;
  c.n_head = 16;
  c.n_head_kv = 4;
  c.head_dim_k = c.head_dim_v = c.rope_dim = 64;
  c.n_ff = 2816;
  return c;
}

// A small qwen3moe: 8 experts, 2 used per token, every layer MoE.
model::ModelConfig MoeShape() {
  model::ModelConfig c = LlamaShape();
  c.arch = "qwen3moe";
  c.qk_norm = true;
  c.n_layer = 3;
  c.n_expert = 8;
  c.n_expert_used = 2;
  c.n_ff_exp = 256;
  return c;
}

ModelDesc Describe(const model::ModelConfig& c, const char* type) {
  auto d = DescribeConfig(c, type);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

Plan MakeOrDie(const ModelDesc& d, const std::vector<NodeSpec>& nodes, PlanOptions po = {}) {
  auto p = MakePlan(d, nodes, po);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

Prediction PredictOrDie(const Plan& p, const ModelDesc& d, const LinkSpec& l,
                        const Calibration& cal, const PredictOptions& o) {
  auto r = Predict(p, d, l, cal, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

double Rel(double a, double b) { return std::abs(a - b) / std::abs(b); }

// ----- presets: independent references are the published parameter counts -----

TEST(Presets, ParameterCountsMatchPublishedTotals) {
  struct Case {
    const char* name;
    double total, active;  // published, in billions (active 0: dense)
    double active_tol;
    bool active_counts_embedding;  // the publisher's convention
  } cases[] = {
      // DeepSeek-V3 report: 671B total, 37B activated (36.6B with the output head, README_WEIGHTS)
      {"deepseek-v3", 671, 37, 0.04, false},
      {"kimi-k2", 1030, 32, 0.04, false},  // Kimi-K2 card: 1T (1.03T) total, 32B activated
      // Qwen3 cards: 235B / 22B and 30.5B / 3.3B activated, embeddings counted (non-embedding
      // totals are given separately).
      {"qwen3-235b-a22b", 235, 22, 0.04, true},
      {"qwen3-30b-a3b", 30.5, 3.3, 0.04, true},
      {"llama-3.1-70b", 70.6, 0, 0, false},    // Meta: 70.6B
      {"llama-3.1-405b", 405.9, 0, 0, false},  // Meta: 405B (405.9B by the HF safetensors index)
  };
  for (const Case& k : cases) {
    auto p = FindPreset(k.name);
    ASSERT_TRUE(p.ok()) << k.name;
    const ParamCounts n = CountParams(Describe(p->config, "q8_0"));
    EXPECT_LT(Rel(n.total / 1e9, k.total), 0.01) << k.name << " total " << n.total / 1e9;
    if (k.active > 0) {
      const double embd = double(p->config.n_vocab) * p->config.n_embd;
      const double active = n.active + (k.active_counts_embedding ? embd : 0.0);
      EXPECT_LT(Rel(active / 1e9, k.active), k.active_tol) << k.name << " active " << active / 1e9;
    }
  }
}

TEST(Presets, DeepseekV3MlaKvCacheIs70272BytesPerToken) {
  auto p = FindPreset("DeepSeek-V3.1");  // an alias, case-insensitive
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->config.KvCacheBytes(1), uint64_t{61} * (512 + 64) * 2);
  EXPECT_EQ(p->config.KvCacheBytes(1), 70272u);
  EXPECT_FALSE(FindPreset("gpt-5").ok());
}

TEST(Presets, TypesAndFallbacks) {
  auto p = FindPreset("deepseek-v3");
  ASSERT_TRUE(p.ok());
  const ModelDesc q4k = Describe(p->config, "q4_k");
  for (const ModelDesc::Tensor& t : q4k.tensors) {
    if (!t.spec.matrix || t.spec.role == model::TensorRole::kFfnGateInp) {  // routers: f32
      EXPECT_EQ(t.type, DType::kF32);
    } else if (t.spec.shape[0] % 256 != 0) {  // attn_k_b rows are 128 values: q8_0
      EXPECT_EQ(t.type, DType::kQ8_0) << t.spec.name;
    } else {
      EXPECT_EQ(t.type, DType::kQ4_K) << t.spec.name;
    }
  }
  // q4_k_m is bigger than q4_k (Q6_K tensors) and smaller than q8_0.
  const uint64_t b4 = q4k.weight_bytes(), b4m = Describe(p->config, "q4_k_m").weight_bytes(),
                 b8 = Describe(p->config, "q8_0").weight_bytes();
  EXPECT_LT(b4, b4m);
  EXPECT_LT(b4m, b8);
  // q8_0: 34 bytes per 32 values for every matrix but the routers (4 bytes per value).
  const ParamCounts n = CountParams(Describe(p->config, "q8_0"));
  const double routers = 58.0 * 7168 * 256;
  EXPECT_LT(Rel(double(b8), (n.total - routers) * 34.0 / 32.0 + routers * 4), 0.001);
  EXPECT_FALSE(DescribeConfig(p->config, "q9_9").ok());
}

// ----- parsing -----

TEST(CostParse, Link) {
  auto l = ParseLinkSpec("lat=5us,bw=75Gbit");
  ASSERT_TRUE(l.ok());
  EXPECT_DOUBLE_EQ(l->latency_us, 5);
  EXPECT_DOUBLE_EQ(l->bandwidth_gbits, 75);
  EXPECT_DOUBLE_EQ(l->bytes_per_s(), 75e9 / 8);
  l = ParseLinkSpec("lat=2ms,bw=1GB");
  ASSERT_TRUE(l.ok());
  EXPECT_DOUBLE_EQ(l->latency_us, 2000);
  EXPECT_DOUBLE_EQ(l->bandwidth_gbits, 8);
  l = ParseLinkSpec("lat=500ns,bw=100Mbit");
  ASSERT_TRUE(l.ok());
  EXPECT_DOUBLE_EQ(l->latency_us, 0.5);
  EXPECT_DOUBLE_EQ(l->bandwidth_gbits, 0.1);
  EXPECT_FALSE(ParseLinkSpec("lat=5us").ok());
  EXPECT_FALSE(ParseLinkSpec("lat=5parsecs,bw=1").ok());
  EXPECT_FALSE(ParseLinkSpec("latency=5,bw=1").ok());
  EXPECT_TRUE(ParseLinkSpec("shm").ok());
}

TEST(CostParse, CalibrationOverrides) {
  Calibration cal;
  ASSERT_TRUE(cal.Set("expert_bw_efficiency=0.9,per_collective_us=140").ok());
  EXPECT_DOUBLE_EQ(cal.expert_bw_efficiency, 0.9);
  EXPECT_DOUBLE_EQ(cal.per_collective_us, 140);
  EXPECT_EQ(cal.ToJson()["per_collective_us"].get<double>(), 140);
  const nlohmann::json all = Calibration{}.ToJson();
  for (auto it = all.begin(); it != all.end(); ++it) {  // every constant can be set
    EXPECT_TRUE(cal.Set(it.key() + "=7").ok()) << it.key();
    EXPECT_EQ(cal.ToJson()[it.key()].get<double>(), 7) << it.key();
  }
  EXPECT_FALSE(cal.Set("warp_factor=9").ok());
  EXPECT_FALSE(cal.Set("gflops_q8_0=fast").ok());
  EXPECT_FALSE(cal.Set("decode_bw_efficiency=0").ok());
}

TEST(CostParse, ClusterNode) {
  auto n = ParseClusterNode("mem=512G,cores=32,bw=819,gflops=50,name=m1");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->node.threads, 32);
  EXPECT_DOUBLE_EQ(n->node.bandwidth_gbs, 819);
  EXPECT_DOUBLE_EQ(n->gflops_per_thread, 50);
  EXPECT_EQ(n->node.name, "m1");
  EXPECT_EQ(n->node.memory_bytes, uint64_t{512} << 30);
  EXPECT_FALSE(ParseClusterNode("mem=1G,gflops=x").ok());
  EXPECT_FALSE(ParseClusterNode("cores=4").ok());  // mem= still required
}

// ----- expected maximum of the experts a rank draws -----

TEST(ExpectedMax, MatchesEnumeration) {
  // 3 of 8 experts chosen, ranks holding 5 and 3; time = count (rank 0) and 2 x count (rank 1).
  const std::vector<int> held = {5, 3};
  std::vector<std::vector<double>> t = {{0, 1, 2, 3}, {0, 2, 4, 6}};
  double sum = 0;
  int n = 0;
  for (int a = 0; a < 8; ++a) {
    for (int b = a + 1; b < 8; ++b) {
      for (int c = b + 1; c < 8; ++c) {
        const int c0 = (a < 5) + (b < 5) + (c < 5), c1 = 3 - c0;
        sum += std::max(double(c0), 2.0 * c1);
        ++n;
      }
    }
  }
  EXPECT_NEAR(ExpectedMaxTime(held, 8, 3, t), sum / n, 1e-12);
  // docs/parallelism.md (simulated): 6 of 64 over 2 ranks of 32: 3.89 expected, not 3.
  std::vector<std::vector<double>> u(2);
  for (int c = 0; c <= 6; ++c) u[0].push_back(c), u[1].push_back(c);
  EXPECT_NEAR(ExpectedMaxTime({32, 32}, 64, 6, u), 3.89, 0.01);
  // docs/parallelism.md (simulated): 8 of 256 over 4 ranks of 64: 3.5 at the busiest, not 2.
  std::vector<std::vector<double>> w(4);
  for (auto& row : w) {
    for (int c = 0; c <= 8; ++c) row.push_back(c);
  }
  EXPECT_NEAR(ExpectedMaxTime({64, 64, 64, 64}, 256, 8, w), 3.5, 0.1);
}

// ----- dense model -----

TEST(Cost, DenseOneNodeMemoryTimeIsBytesOverBandwidth) {
  const model::ModelConfig c = LlamaShape();
  const ModelDesc d = Describe(c, "q8_0");
  Calibration cal;
  PredictOptions o;
  o.position = 99;  // the token attends to 100 positions
  const Plan p = MakeOrDie(d, {Node(8, 2, 20)});
  const Prediction pr = PredictOrDie(p, d, LinkSpec{}, cal, o);
  // By hand: every weight once, but one row of token_embd; the KV cache of 100 positions.
  const double embd = double(c.n_vocab) * double(RowBytes(DType::kQ8_0, c.n_embd));
  const double kv = double(c.n_layer) * 100 * 2.0 * c.n_head_kv * c.head_dim_k * 2;
  const double bytes = double(d.weight_bytes()) - embd + embd / c.n_vocab + kv;
  EXPECT_NEAR(pr.ranks[0].decode.bytes, bytes, 1.0);
  EXPECT_NEAR(pr.ranks[0].decode.kv_bytes, kv, 1e-6);
  EXPECT_NEAR(pr.decode.memory_s, bytes / (20e9 * cal.decode_bw_efficiency), 1e-12);
  EXPECT_EQ(pr.decode.comm_s, 0);
  EXPECT_EQ(pr.kv_bytes_per_token, c.KvCacheBytes(1));
  // Memory-bound (2 threads of ~100 GFLOP/s against 20 GB/s): the token takes the weights'
  // memory time, then per layer the slower of its KV reads and its attention arithmetic
  // (16 heads x 100 positions x (fixed ns + 256 flops at the attention rate) over 2 threads),
  // plus the fixed cost of each matrix (7 per layer and the output).
  EXPECT_GT(pr.decode.memory_s, pr.decode.compute_s);
  const double matrices = 7 * c.n_layer + 1;
  EXPECT_EQ(pr.ranks[0].decode.matrices, matrices);
  const double bw = 20e9 * cal.decode_bw_efficiency;
  const double attn =
      16 * 100 * (cal.attention_ns_per_head_position * 1e-9 + 256 / (cal.attention_gflops * 1e9)) /
      2;
  const double layer_kv = kv / c.n_layer / bw;
  EXPECT_NEAR(pr.decode.seconds,
              (bytes - kv) / bw + c.n_layer * std::max(layer_kv, attn) +
                  matrices * cal.per_matrix_us * 1e-6,
              1e-12);
  EXPECT_NEAR(pr.decode.tok_s, 1.0 / pr.decode.seconds, 1e-9);
  // Flops by hand: 2 per matrix value but token_embd, + attention 2 x 100 x (64 + 64) per head.
  const ParamCounts n = CountParams(d);
  double vec = 0;
  for (const auto& t : d.tensors) vec += t.spec.matrix ? 0 : double(t.spec.shape[0]);
  const double flops = 2 * (n.active - vec) + c.n_layer * c.n_head * 2.0 * 100 * 128;
  EXPECT_NEAR(pr.ranks[0].decode.flops, flops, 1.0);

  // Twice the bandwidth: half the memory time.
  const Plan p2 = MakeOrDie(d, {Node(8, 2, 40)});
  const Prediction pr2 = PredictOrDie(p2, d, LinkSpec{}, cal, o);
  EXPECT_NEAR(pr2.decode.memory_s, pr.decode.memory_s / 2, 1e-12);
  // Without bw=: threads x the calibration's per-thread bandwidth.
  const Plan p3 = MakeOrDie(d, {Node(8, 2, 0)});
  const Prediction pr3 = PredictOrDie(p3, d, LinkSpec{}, cal, o);
  EXPECT_NEAR(pr3.decode.memory_s,
              bytes / (2 * cal.read_gbs_per_thread * 1e9 * cal.decode_bw_efficiency), 1e-12);
}

TEST(Cost, PrefillIsComputeBoundAndCountsFlopsByHand) {
  const model::ModelConfig c = LlamaShape();
  const ModelDesc d = Describe(c, "q4_0");
  Calibration cal;
  PredictOptions o;
  o.position = 0;
  o.prefill_tokens = 64;
  const Plan p = MakeOrDie(d, {Node(8, 1, 20)});
  const Prediction pr = PredictOrDie(p, d, LinkSpec{}, cal, o);
  // Matmul flops: 64 tokens through every layer matrix, the output matrix for one token.
  double layer_values = 0, out_values = 0;
  for (const auto& t : d.tensors) {
    if (!t.spec.matrix || t.spec.role == model::TensorRole::kTokenEmbd) continue;
    const double v = double(t.spec.shape[0]) * double(t.spec.shape[1]);
    (t.spec.role == model::TensorRole::kOutput ? out_values : layer_values) += v;
  }
  const double attn = c.n_layer * c.n_head * 2.0 * 128 * (64.0 * 65 / 2);
  const double matmul = 2 * (64 * layer_values + out_values);
  EXPECT_NEAR(pr.ranks[0].prefill.flops, matmul + attn, 1.0);
  const double head_positions = c.n_layer * c.n_head * (64.0 * 65 / 2);
  EXPECT_NEAR(pr.prefill.compute_s,
              matmul / (cal.gflops_q4_0 * 1e9) + attn / (cal.attention_gflops * 1e9) +
                  head_positions * cal.attention_ns_per_head_position * 1e-9,
              1e-9);
  EXPECT_GT(pr.prefill.compute_s, pr.prefill.memory_s);
  EXPECT_NEAR(pr.prefill.tok_s, 64 / pr.prefill.seconds, 1e-9);
  // Two threads: twice the compute rate.
  const Plan p2 = MakeOrDie(d, {Node(8, 2, 20)});
  const Prediction pr2 = PredictOrDie(p2, d, LinkSpec{}, cal, o);
  EXPECT_NEAR(pr2.prefill.compute_s, pr.prefill.compute_s / 2, 1e-12);
}

TEST(Cost, TwoRankStageCommunicationCountedByHand) {
  const model::ModelConfig c = LlamaShape();
  const ModelDesc d = Describe(c, "q8_0");
  Calibration cal;
  const LinkSpec link{5, 75};
  PredictOptions o;
  const Plan p = MakeOrDie(d, {Node(8, 1, 20), Node(8, 1, 20)});
  const Prediction pr = PredictOrDie(p, d, link, cal, o);
  // 2 all-reduces per layer + the embedding (vocabulary split), each one Direct exchange:
  // 2 one-way latencies + n_embd floats over the link.
  const int n_ar = 2 * c.n_layer + 1;
  const double ar = 2 * 5e-6 + c.n_embd * 4.0 / (75e9 / 8);
  ASSERT_EQ(pr.stages.size(), 1u);
  EXPECT_EQ(pr.stages[0].n_allreduce, n_ar);
  EXPECT_NEAR(pr.stages[0].allreduce_s, ar, 1e-15);
  // Logits gather: rank 1's vocabulary slice to rank 0.
  const double gather = 5e-6 + p.ranks[1].shard.vocab.size() * 4.0 / (75e9 / 8);
  EXPECT_NEAR(pr.gather_s, gather, 1e-15);
  EXPECT_NEAR(pr.decode.comm_s, n_ar * ar + gather, 1e-12);
  // Each rank reads about half of the one-node bytes.
  const Plan p1 = MakeOrDie(d, {Node(8, 1, 20)});
  const Prediction pr1 = PredictOrDie(p1, d, LinkSpec{}, cal, o);
  EXPECT_NEAR(pr.ranks[0].decode.bytes + pr.ranks[1].decode.bytes, pr1.ranks[0].decode.bytes,
              0.01 * pr1.ranks[0].decode.bytes);
  // Per-collective overhead adds per all-reduce.
  cal.per_collective_us = 10;
  const Prediction pr3 = PredictOrDie(p, d, link, cal, o);
  EXPECT_NEAR(pr3.decode.comm_s - pr.decode.comm_s, n_ar * 10e-6, 1e-12);
  // A multi-node plan needs a link.
  EXPECT_FALSE(Predict(p, d, LinkSpec{}, cal, o).ok());
}

TEST(Cost, PipelineStagesAddHopsInsteadOfCollectives) {
  const model::ModelConfig c = LlamaShape();
  const ModelDesc d = Describe(c, "q8_0");
  PlanOptions po;
  po.stages = 2;
  const Plan p = MakeOrDie(d, {Node(8, 1, 20), Node(8, 1, 20)}, po);
  const LinkSpec link{10, 8};
  const Prediction pr = PredictOrDie(p, d, link, Calibration{}, PredictOptions{});
  ASSERT_EQ(pr.stages.size(), 2u);
  EXPECT_EQ(pr.stages[0].n_allreduce, 0);
  EXPECT_EQ(pr.stages[1].n_allreduce, 0);
  EXPECT_NEAR(pr.hop_s, 10e-6 + c.n_embd * 4.0 / 1e9, 1e-15);
  // The last stage (rank 1) holds the whole vocabulary: the gather carries all of it.
  EXPECT_NEAR(pr.gather_s, 10e-6 + c.n_vocab * 4.0 / 1e9, 1e-15);
}

TEST(Cost, AllReduceDirectAndRing) {
  Calibration cal;
  const LinkSpec l{5, 80};  // 10 GB/s
  EXPECT_EQ(AllReduceSeconds(1, 1e6, l, cal), 0);
  // 4 ranks, 16 KiB: Direct, one round trip + 3 vectors out.
  EXPECT_NEAR(AllReduceSeconds(4, 16384, l, cal), 10e-6 + 3 * 16384 / 1e10, 1e-15);
  // 4 ranks, 1 MB: Ring, 6 steps of a quarter each.
  EXPECT_NEAR(AllReduceSeconds(4, 1e6, l, cal), 6 * (5e-6 + 0.25e6 / 1e10), 1e-15);
  // A mesh: every peer over its own cable.
  const LinkSpec mesh{5, 80, true};
  EXPECT_NEAR(AllReduceSeconds(4, 16384, mesh, cal), 10e-6 + 16384 / 1e10, 1e-15);
  auto parsed = ParseLinkSpec("lat=5us,bw=80Gbit,mesh");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->mesh);
  // 2 ranks: always Direct.
  EXPECT_NEAR(AllReduceSeconds(2, 1e6, l, cal), 10e-6 + 1e6 / 1e10, 1e-15);
}

// ----- mixture of experts -----

// Bytes of one routed expert (gate + up + down) of the MoE shape at q8_0.
double ExpertBytes(const model::ModelConfig& c) {
  return 2.0 * c.n_ff_exp * RowBytes(DType::kQ8_0, c.n_embd) +
         double(c.n_embd) * RowBytes(DType::kQ8_0, c.n_ff_exp);
}

TEST(CostMoe, OneNodeReadsTheChosenExperts) {
  const model::ModelConfig c = MoeShape();
  const ModelDesc d = Describe(c, "q8_0");
  PredictOptions o;
  o.position = 0;
  o.prefill_tokens = 4;
  const Plan p = MakeOrDie(d, {Node(8, 1, 10)});
  const Prediction pr = PredictOrDie(p, d, LinkSpec{}, Calibration{}, o);
  const double expert = ExpertBytes(c);
  const double all_experts = c.n_layer * c.n_expert * expert;
  const double embd = double(c.n_vocab) * RowBytes(DType::kQ8_0, c.n_embd);
  const double kv = double(c.n_layer) * 1 * 2.0 * c.n_head_kv * c.head_dim_k * 2;
  const double rest = double(d.weight_bytes()) - all_experts - embd + embd / c.n_vocab;
  // Decode: 2 of the 8 experts per layer.
  EXPECT_NEAR(pr.ranks[0].decode.bytes, rest + kv + c.n_layer * 2 * expert, 1.0);
  // Memory time: the experts' bytes at their own (measured, lower) efficiency.
  const Calibration cal;
  EXPECT_NEAR(pr.ranks[0].decode.memory_s,
              (rest + kv) / (10e9 * cal.decode_bw_efficiency) +
                  c.n_layer * 2 * expert / (10e9 * cal.expert_bw_efficiency),
              1e-12);
  // Matrices used: q, k, v, output, the router and 3 per chosen expert in each layer; the output.
  EXPECT_EQ(pr.ranks[0].decode.matrices, c.n_layer * (4 + 1 + 2 * 3) + 1);
  // Prefill of 4 tokens: each expert read when any token chose it: 1 - (6/8)^4 of them.
  const double frac = 1 - std::pow(6.0 / 8.0, 4);
  const double embd_pf = 4 * embd / c.n_vocab;
  const double kv_pf = double(c.n_layer) * 4 * 2.0 * c.n_head_kv * c.head_dim_k * 2;
  EXPECT_NEAR(pr.ranks[0].prefill.bytes,
              rest - embd / c.n_vocab + embd_pf + kv_pf + frac * all_experts, 1.0);
}

TEST(CostMoe, WholeExpertsPayTheExpectedMaximumColumnsDoNot) {
  const model::ModelConfig c = MoeShape();
  const ModelDesc d = Describe(c, "q8_0");
  PredictOptions o;
  o.position = 0;
  const LinkSpec link{5, 75};
  Calibration cal;
  cal.gflops_q8_0 = 1e6;  // make compute negligible: memory decides
  cal.attention_gflops = 1e6;
  cal.expert_bw_efficiency = cal.decode_bw_efficiency;  // one bandwidth in the hand count
  const std::vector<NodeSpec> nodes = {Node(8, 1, 10), Node(8, 1, 10)};
  PlanOptions po;
  po.expert_split = ExpertSplit::kExperts;
  const Plan pe = MakeOrDie(d, nodes, po);
  ASSERT_EQ(pe.ranks[0].shard.experts.size(), 4);
  const Prediction e = PredictOrDie(pe, d, link, cal, o);
  po.expert_split = ExpertSplit::kColumns;
  const Plan pc = MakeOrDie(d, nodes, po);
  const Prediction col = PredictOrDie(pc, d, link, cal, o);
  // By hand, per MoE layer: rank i's fixed bytes F_i + (experts it runs) x its expert bytes.
  // Whole experts: counts (c, 2 - c) with P(c) = C(4,c) C(4,2-c) / C(8,2): 6/28, 16/28, 6/28.
  const double bw = 10e9 * cal.decode_bw_efficiency;
  const double ex = ExpertBytes(c);
  double e_layers = 0, c_layers = 0;
  for (int l = 0; l < c.n_layer; ++l) {
    // Fixed bytes of each rank in this layer (everything but experts, + KV of 1 position).
    double fixed[2] = {0, 0};
    for (int r = 0; r < 2; ++r) {
      for (const auto& t : d.tensors) {
        if (t.spec.layer != l) continue;
        const model::TensorRole role = t.spec.role;
        if (role == model::TensorRole::kFfnGateExps || role == model::TensorRole::kFfnUpExps ||
            role == model::TensorRole::kFfnDownExps) {
          continue;
        }
        const model::TensorSlice s = model::SliceFor(c, pe.ranks[r].shard, t.spec);
        const int64_t cols = s.col_end - s.col_begin;
        fixed[r] += t.spec.matrix ? double(s.held_rows()) * RowBytes(t.type, cols) : cols * 4.0;
      }
      model::Shard one = pe.ranks[r].shard;
      one.layers = {l, l + 1};
      fixed[r] += double(model::ShardKvCacheBytes(c, one, 1));
    }
    const double p[3] = {6.0 / 28, 16.0 / 28, 6.0 / 28};
    for (int k0 = 0; k0 <= 2; ++k0) {
      e_layers += p[k0] * std::max(fixed[0] + k0 * ex, fixed[1] + (2 - k0) * ex) / bw;
    }
    // Columns: each rank half of each of the 2 chosen experts (same fixed part: same heads).
    c_layers += std::max(fixed[0], fixed[1]) / bw + 2 * (ex / 2) / bw;
  }
  // The global part (embedding row, output slice, norm) is the same in both plans.
  const double global = e.decode.memory_s - e_layers;
  EXPECT_GT(global, 0);
  EXPECT_NEAR(col.decode.memory_s - global, c_layers, 1e-3 * c_layers);
  EXPECT_LT(col.decode.seconds, e.decode.seconds);
  // Same number of collectives either way.
  EXPECT_EQ(e.stages[0].n_allreduce, col.stages[0].n_allreduce);
}

TEST(CostMoe, DeepseekV3OnFourLargeNodes) {
  auto pre = FindPreset("deepseek-v3");
  ASSERT_TRUE(pre.ok());
  const ModelDesc d = Describe(pre->config, "q8_0");
  std::vector<NodeSpec> nodes(4, Node(512, 32, 819));
  const Plan p = MakeOrDie(d, nodes);
  ASSERT_TRUE(p.fits) << p.why_not;
  Calibration cal;
  const Prediction pr = PredictOrDie(p, d, LinkSpec{5, 75}, cal, PredictOptions{});
  // 61 layers x 2 + the embedding all-reduces of 7168 floats (28 KiB: Direct).
  EXPECT_EQ(pr.stages[0].n_allreduce, 123);
  EXPECT_NEAR(pr.stages[0].allreduce_s, 10e-6 + 3 * 7168 * 4 / (75e9 / 8), 1e-12);
  // The four ranks together read about the activated weights once per token (columns split).
  const ParamCounts n = CountParams(d);
  double read = 0;
  for (const RankCost& r : pr.ranks) read += r.decode.bytes - r.decode.kv_bytes;
  // Attention is split by head, experts by columns; replicated on every rank (read 4 times):
  // the MLA down-projections attn_q_a and attn_kv_a_mqa, and the MoE layers' routers.
  // The routers are f32 (4 bytes a value), the rest q8_0 (34 bytes per 32).
  const double mla = 61.0 * 7168 * (1536 + 576), routers = 58.0 * 7168 * 256;
  EXPECT_LT(Rel(read, (n.active - routers + 3 * mla) * 34 / 32 + 4 * routers * 4), 0.01);
  EXPECT_GT(pr.decode.tok_s, 0);
}

}  // namespace
}  // namespace shoal::parallel

namespace shoal::parallel {
namespace {

// A preset's description is the file's: generate small models, read them back, and describe
// their parsed configuration with DescribeConfig: the same tensors, types and bytes.
void ExpectSameAsFile(const model::GenSpec& spec, const char* type) {
  const std::string path =
      ::testing::TempDir() + "/cost_preset_" + spec.arch + "_" + type + ".gguf";
  ASSERT_TRUE(model::GenerateModel(spec, path).ok());
  auto file = gguf::File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto from_file = DescribeModel(**file);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  const ModelDesc from_config = Describe(from_file->config, type);
  ASSERT_EQ(from_config.tensors.size(), from_file->tensors.size());
  for (size_t i = 0; i < from_file->tensors.size(); ++i) {
    EXPECT_EQ(from_config.tensors[i].spec.name, from_file->tensors[i].spec.name);
    EXPECT_EQ(from_config.tensors[i].type, from_file->tensors[i].type)
        << from_file->tensors[i].spec.name;
  }
  EXPECT_EQ(from_config.weight_bytes(), from_file->weight_bytes());
  std::remove(path.c_str());
}

TEST(Presets, DescriptionMatchesAGeneratedFile) {
  model::GenSpec ds;
  ds.arch = "deepseek2";
  ds.n_layer = 3;
  ds.n_expert = 8;
  ds.type = DType::kQ8_0;
  ExpectSameAsFile(ds, "q8_0");
  model::GenSpec qm;
  qm.arch = "qwen3moe";
  qm.type = DType::kQ8_0;
  ExpectSameAsFile(qm, "q8_0");
  model::GenSpec ll;
  ll.n_layer = 8;
  ll.mix = "q4_k_m";
  ExpectSameAsFile(ll, "q4_k_m");
}

}  // namespace
}  // namespace shoal::parallel
