#include "runtime/session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "model/generate.h"
#include "runtime/attention.h"

namespace shoal::runtime {
namespace {

struct Loaded {
  std::vector<uint8_t> image;
  std::unique_ptr<model::Model> model;
};

Loaded Generate(const model::GenSpec& spec) {
  Loaded out;
  gguf::Writer w;
  Status st = model::GenerateModelWriter(spec, &w);
  EXPECT_TRUE(st.ok()) << st.ToString();
  out.image = w.Serialize();
  auto f = gguf::File::FromMemory(out.image.data(), out.image.size());
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  auto m = model::Model::FromFile(std::move(f).value());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (m.ok()) out.model = std::move(m).value();
  return out;
}

model::GenSpec Spec(const std::string& arch, DType type) {
  model::GenSpec s;
  s.arch = arch;
  s.n_vocab = 512;
  s.n_embd = 128;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 256;
  s.n_ctx = 64;
  s.type = type;
  s.seed = 7;
  return s;
}

std::vector<int32_t> Prompt(int n, int n_vocab) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 97 + 13) % n_vocab;
  return t;
}

struct Case {
  const char* arch;
  DType type;
  bool llama3 = false;
  const char* mix = "";
};

class SessionTest : public ::testing::TestWithParam<Case> {};

// Decoding one token at a time equals a batched prefill of the same tokens (all logits), and one
// thread equals two threads bit for bit.
TEST_P(SessionTest, DecodeEqualsPrefillAndThreadCountIsInvisible) {
  model::GenSpec spec = Spec(GetParam().arch, GetParam().type);
  spec.llama3_rope_scaling = GetParam().llama3;
  spec.mix = GetParam().mix;
  if (Info(spec.type).block_values == kQK_K || !spec.mix.empty()) {  // k-quant rows: 256 values
    spec.n_embd = 256;
    spec.n_ff = 512;
  }
  Loaded m = Generate(spec);
  ASSERT_NE(m.model, nullptr);
  const int32_t V = m.model->config().n_vocab;
  const auto prompt = Prompt(20, V);

  ThreadPool pool1(1), pool2(2);
  Session batched(*m.model, pool2, 64);
  auto all = batched.Eval(prompt, /*all_logits=*/true);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), prompt.size() * V);
  const std::vector<float> all_copy(all->begin(), all->end());
  EXPECT_EQ(batched.n_past(), 20);

  Session one(*m.model, pool1, 64), two(*m.model, pool2, 64);
  double max_diff = 0, max_abs = 0;
  for (size_t t = 0; t < prompt.size(); ++t) {
    auto a = one.Eval(std::span<const int32_t>(&prompt[t], 1));
    auto b = two.Eval(std::span<const int32_t>(&prompt[t], 1));
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), size_t(V));
    ASSERT_EQ(0, std::memcmp(a->data(), b->data(), V * sizeof(float))) << "token " << t;
    for (int32_t i = 0; i < V; ++i) {
      ASSERT_TRUE(std::isfinite((*a)[i]));
      max_diff = std::max(max_diff, double(std::fabs((*a)[i] - all_copy[t * V + i])));
      max_abs = std::max(max_abs, double(std::fabs(all_copy[t * V + i])));
    }
  }
  std::printf("max |logit| %.3f, max |decode - prefill| %.3g\n", max_abs, max_diff);
  EXPECT_GT(max_abs, 1e-3);  // logits are not all zero
  EXPECT_LE(max_diff, 1e-4 * std::max(1.0, max_abs)) << "max |decode - prefill| " << max_diff;

  // Last-token logits of a prefill equal the last row of all logits; 1 vs 2 threads in prefill.
  Session p1(*m.model, pool1, 64);
  auto last = p1.Eval(prompt);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), size_t(V));
  EXPECT_EQ(
      0, std::memcmp(last->data(), all_copy.data() + (prompt.size() - 1) * V, V * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Archs, SessionTest,
                         ::testing::Values(Case{"llama", DType::kF32}, Case{"llama", DType::kF16},
                                           Case{"llama", DType::kQ8_0, true},
                                           Case{"qwen2", DType::kQ4_K}, Case{"qwen3", DType::kF16},
                                           Case{"qwen3", DType::kQ6_K},
                                           Case{"qwen2", DType::kF16, false, "q4_k_m"}),
                         [](const auto& info) {
                           return std::string(info.param.arch) + "_" +
                                  std::string(DTypeName(info.param.type)) +
                                  (info.param.llama3 ? "_rope3" : "") + info.param.mix;
                         });

TEST(Session, ErrorsAndReset) {
  Loaded m = Generate(Spec("llama", DType::kF16));
  ASSERT_NE(m.model, nullptr);
  ThreadPool pool(2);
  Session s(*m.model, pool, 8);
  EXPECT_EQ(s.n_ctx(), 8);
  EXPECT_EQ(s.kv_cache_bytes(), m.model->config().KvCacheBytes(8));
  const std::vector<int32_t> bad = {1, 512};
  EXPECT_EQ(s.Eval(bad).status().code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> neg = {-1};
  EXPECT_EQ(s.Eval(neg).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Eval({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.n_past(), 0);
  const auto p = Prompt(6, 512);
  auto first = s.Eval(p);
  ASSERT_TRUE(first.ok());
  const std::vector<float> first_copy(first->begin(), first->end());
  EXPECT_EQ(s.n_past(), 6);
  auto full = s.Eval(Prompt(3, 512));
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.n_past(), 6);
  s.Reset();
  EXPECT_EQ(s.n_past(), 0);
  auto again = s.Eval(p);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(0, std::memcmp(again->data(), first_copy.data(), first_copy.size() * sizeof(float)));
}

// Inputs longer than one forward pass (256 tokens) are split; the logits do not depend on how.
TEST(Session, LongInputsAreSplitTransparently) {
  model::GenSpec spec = Spec("qwen2", DType::kQ8_0);
  spec.n_ctx = 320;
  Loaded m = Generate(spec);
  ASSERT_NE(m.model, nullptr);
  const int32_t V = m.model->config().n_vocab;
  const auto p = Prompt(300, V);
  ThreadPool pool(2);
  Session whole(*m.model, pool, 320), parts(*m.model, pool, 320);
  auto all = whole.Eval(p, true);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), size_t(300) * V);
  std::vector<float> joined;
  for (auto [b, e] : {std::pair{0, 100}, std::pair{100, 290}, std::pair{290, 300}}) {
    auto r = parts.Eval(std::span<const int32_t>(p.data() + b, e - b), true);
    ASSERT_TRUE(r.ok());
    joined.insert(joined.end(), r->begin(), r->end());
  }
  ASSERT_EQ(joined.size(), all->size());
  double max_diff = 0;
  for (size_t i = 0; i < joined.size(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(joined[i] - (*all)[i])));
  }
  EXPECT_LE(max_diff, 1e-4) << max_diff;
  EXPECT_EQ(whole.n_past(), 300);
  EXPECT_EQ(parts.n_past(), 300);
}

TEST(Session, CreateChecksMemory) {
  Loaded m = Generate(Spec("llama", DType::kF16));
  ASSERT_NE(m.model, nullptr);
  ThreadPool pool(1);
  auto ok = Session::Create(*m.model, pool, 16);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->n_ctx(), 16);
  auto huge = Session::Create(*m.model, pool, 1 << 30);  // 2 layers * 2^30 * 128 * 2 B = 512 GiB
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted) << huge.status().ToString();
  EXPECT_EQ(Session::Create(*m.model, pool, -5).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::runtime

namespace shoal::runtime {
namespace {

// The tiled attention (the default) and the path it replaced give the same logits within float
// rounding, for GQA (llama, f32) and MLA (deepseek2, f32), over 300 positions in 2 threads.
TEST(Session, TiledAttentionMatchesTheNaivePath) {
  for (const char* arch : {"llama", "deepseek2"}) {
    SCOPED_TRACE(arch);
    model::GenSpec spec = Spec(arch, DType::kF32);
    spec.n_ctx = 320;
    if (std::string(arch) == "deepseek2") {
      spec.n_expert = 4, spec.n_expert_used = 2, spec.n_ff_exp = 64;
      spec.q_lora_rank = 32, spec.kv_lora_rank = 64;
      spec.qk_nope_dim = 32, spec.qk_rope_dim = 16, spec.v_head_dim = 32;
    }
    Loaded m = Generate(spec);
    ASSERT_NE(m.model, nullptr);
    const auto p = Prompt(300, m.model->config().n_vocab);
    ThreadPool pool(2);
    std::vector<float> logits[2];
    for (AttentionPath path : {AttentionPath::kNaive, AttentionPath::kTiled}) {
      SetAttentionPath(path);
      Session s(*m.model, pool, 320);
      auto r = s.Eval(std::span<const int32_t>(p.data(), 290), true);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      std::vector<float>& out = logits[path == AttentionPath::kTiled];
      out.assign(r->begin(), r->end());
      for (int i = 290; i < 300; ++i) {  // decode steps too
        r = s.Eval(std::span<const int32_t>(p.data() + i, 1), false);
        ASSERT_TRUE(r.ok());
        out.insert(out.end(), r->begin(), r->end());
      }
    }
    SetAttentionPath(AttentionPath::kTiled);
    ASSERT_EQ(logits[0].size(), logits[1].size());
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < logits[0].size(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(logits[0][i] - logits[1][i])));
      max_abs = std::max(max_abs, double(std::fabs(logits[0][i])));
    }
    EXPECT_GT(max_abs, 0.1);
    EXPECT_LE(max_diff, 1e-4 * max_abs) << max_diff << " of " << max_abs;
  }
}

}  // namespace
}  // namespace shoal::runtime
