// Batch invariance of Session::Step: a sequence's logits, evaluated in chunks mixed with other
// sequences' prompt chunks and decode tokens, with scattered block tables, are bit-identical to
// the same tokens evaluated alone in one pass (Session::Eval, slot = position), for llama, qwen3
// and deepseek2 (MLA + MoE) models in float and quantized types.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "model/generate.h"
#include "runtime/session.h"

namespace shoal::runtime {
namespace {

struct Case {
  const char* arch;
  DType type;
};

std::string Name(const testing::TestParamInfo<Case>& i) {
  return std::string(i.param.arch) + "_" + std::string(Info(i.param.type).name);
}

std::unique_ptr<model::Model> Load(const Case& c, std::vector<uint8_t>* image) {
  model::GenSpec s;
  s.arch = c.arch;
  s.n_vocab = 512;
  s.n_embd = 256;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 512;
  s.n_ctx = 128;
  s.type = c.type;
  s.seed = 3;
  if (std::string(c.arch) == "deepseek2") {
    s.n_layer = 2;
    s.n_expert = 8;
    s.n_expert_used = 2;
    s.n_ff_exp = 256;
    s.n_expert_shared = 1;
    s.n_layer_dense_lead = 1;
    s.q_lora_rank = 64;
    s.kv_lora_rank = 64;
    s.qk_nope_dim = 32;
    s.qk_rope_dim = 32;
    s.v_head_dim = 32;
  }
  gguf::Writer w;
  Status st = model::GenerateModelWriter(s, &w);
  EXPECT_TRUE(st.ok()) << st.ToString();
  *image = w.Serialize();
  auto f = gguf::File::FromMemory(image->data(), image->size());
  EXPECT_TRUE(f.ok());
  auto m = model::Model::FromFile(std::move(f).value());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<int32_t> Tokens(int n, int salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = (i * 131 + 7 + salt * 53) % 512;
  return t;
}

class BatchInvariance : public testing::TestWithParam<Case> {};

TEST_P(BatchInvariance, MixedChunkedBatchesEqualOneSequenceAlone) {
  std::vector<uint8_t> image;
  auto m = Load(GetParam(), &image);
  ASSERT_NE(m, nullptr);
  const int32_t V = m->config().n_vocab;
  ThreadPool pool(2);
  // Three sequences of different lengths.
  const std::vector<std::vector<int32_t>> seqs = {Tokens(37, 0), Tokens(12, 1), Tokens(50, 2)};
  // Alone: one Eval of all tokens (all logits), slot = position.
  std::vector<std::vector<float>> alone;
  for (const auto& t : seqs) {
    Session s(*m, pool, 64);
    auto l = s.Eval(t, /*all_logits=*/true);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    alone.emplace_back(l->begin(), l->end());
  }
  // Mixed: block tables scattered over the cache (no two sequences share a block), steps mixing
  // chunks of 1..6 tokens of every unfinished sequence, every entry asking for logits.
  Session s(*m, pool, 64, Parallelism{}, /*kv_blocks=*/16);
  std::vector<std::vector<int32_t>> tables = {{9, 2, 14}, {5}, {0, 11, 3, 15}};
  std::vector<int32_t> done(seqs.size(), 0);
  std::vector<std::vector<float>> mixed(seqs.size());
  for (int step = 0; step < 100; ++step) {
    StepBatch b;
    std::vector<size_t> order;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const int32_t left = int32_t(seqs[i].size()) - done[i];
      if (left == 0) continue;
      const int32_t chunk = std::min(left, 1 + (step * 5 + int32_t(i) * 3) % 6);
      const int32_t seq = int32_t(b.tables.size());
      b.tables.push_back(tables[i]);
      for (int32_t p = done[i]; p < done[i] + chunk; ++p) {
        b.entries.push_back({seq, p, seqs[i][size_t(p)], 1});
        order.push_back(i);
      }
      done[i] += chunk;
    }
    if (b.entries.empty()) break;
    auto l = s.Step(b);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ASSERT_EQ(l->size(), order.size() * size_t(V));
    for (size_t e = 0; e < order.size(); ++e) {
      mixed[order[e]].insert(mixed[order[e]].end(), l->begin() + e * V, l->begin() + (e + 1) * V);
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    ASSERT_EQ(mixed[i].size(), alone[i].size());
    for (size_t p = 0; p < seqs[i].size(); ++p) {
      ASSERT_EQ(0, std::memcmp(mixed[i].data() + p * V, alone[i].data() + p * V, V * sizeof(float)))
          << "sequence " << i << " position " << p;
    }
  }
}

// One token at a time (decode, n_tok = 1 in every matmul) equals the one-pass prefill bit for
// bit: the kernels' decode tiles compute each output as the prefill tiles do.
TEST_P(BatchInvariance, DecodeEqualsPrefillBitForBit) {
  std::vector<uint8_t> image;
  auto m = Load(GetParam(), &image);
  ASSERT_NE(m, nullptr);
  const int32_t V = m->config().n_vocab;
  ThreadPool pool(2);
  const std::vector<int32_t> t = Tokens(20, 4);
  Session a(*m, pool, 64), b(*m, pool, 64);
  auto all = a.Eval(t, true);
  ASSERT_TRUE(all.ok());
  const std::vector<float> ref(all->begin(), all->end());
  for (size_t p = 0; p < t.size(); ++p) {
    auto l = b.Eval(std::span<const int32_t>(&t[p], 1));
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(0, std::memcmp(l->data(), ref.data() + p * V, V * sizeof(float))) << "position " << p;
  }
}

TEST(Step, BadBatchesAreRefused) {
  std::vector<uint8_t> image;
  auto m = Load({"llama", DType::kF32}, &image);
  ASSERT_NE(m, nullptr);
  ThreadPool pool(1);
  Session s(*m, pool, 64, Parallelism{}, 8);
  auto bad = [&](StepBatch b) { return s.Step(b).status().code(); };
  EXPECT_EQ(bad({}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({{{1, 0, 5, 1}}, {{0}}}), StatusCode::kInvalidArgument);    // no sequence 1
  EXPECT_EQ(bad({{{0, 64, 5, 1}}, {{0}}}), StatusCode::kInvalidArgument);   // position >= n_ctx
  EXPECT_EQ(bad({{{0, 16, 5, 1}}, {{0}}}), StatusCode::kInvalidArgument);   // table too short
  EXPECT_EQ(bad({{{0, 0, 512, 1}}, {{0}}}), StatusCode::kInvalidArgument);  // token id
  EXPECT_EQ(bad({{{0, 0, 5, 1}}, {{8}}}), StatusCode::kInvalidArgument);    // block id
  EXPECT_EQ(bad({{{0, 0, 5, 2}}, {{0}}}), StatusCode::kInvalidArgument);    // logits flag
  EXPECT_EQ(bad({{{0, 1, 5, 0}, {0, 1, 5, 1}}, {{0}}}), StatusCode::kInvalidArgument);
  EXPECT_TRUE(s.Step({{{0, 0, 5, 1}}, {{3}}}).ok());
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvariance,
                         testing::Values(Case{"llama", DType::kF32}, Case{"llama", DType::kQ4_0},
                                         Case{"llama", DType::kQ8_0}, Case{"llama", DType::kQ4_K},
                                         Case{"llama", DType::kQ6_K}, Case{"qwen3", DType::kF16},
                                         Case{"qwen3", DType::kQ5_0},
                                         Case{"deepseek2", DType::kF32},
                                         Case{"deepseek2", DType::kQ8_0},
                                         Case{"deepseek2", DType::kQ4_0}),
                         Name);

}  // namespace
}  // namespace shoal::runtime
