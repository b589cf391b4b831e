#include "parallel/presets.h"

#include <algorithm>
#include <cctype>

#include "model/arch.h"

namespace shoal::parallel {

namespace {

using model::ModelConfig;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// DeepSeek-V3 / V3.1 / R1 (identical shapes; V3.1 and R1 re-use V3's config.json apart from
// names): https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json
//   vocab_size 129280, hidden_size 7168, intermediate_size 18432, moe_intermediate_size 2048,
//   num_hidden_layers 61, num_attention_heads 128, first_k_dense_replace 3, n_routed_experts 256,
//   num_experts_per_tok 8, n_shared_experts 1, n_group 8, topk_group 4, q_lora_rank 1536,
//   kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128,
//   routed_scaling_factor 2.5, scoring_func sigmoid, norm_topk_prob true, rope_theta 10000,
//   rope_scaling yarn factor 40 of 4096, max_position_embeddings 163840, rms_norm_eps 1e-6.
//   (The file's extra multi-token-prediction layer is not part of the 61 and not in GGUFs.)
// Kimi-K2 (Instruct, Base, Thinking):
// https://huggingface.co/moonshotai/Kimi-K2-Instruct/blob/main/config.json
//   the DeepSeek-V3 shape with vocab_size 163840, num_attention_heads 64, n_routed_experts 384,
//   first_k_dense_replace 1, n_group 1, topk_group 1, routed_scaling_factor 2.827,
//   rope_theta 50000, yarn factor 32 of 4096, max_position_embeddings 131072.
ModelConfig DeepseekV3Shape() {
  ModelConfig c;
  c.arch = "deepseek2";
  c.n_vocab = 129280;
  c.n_ctx_train = 163840;
  c.n_embd = 7168;
  c.n_layer = 61;
  c.n_head = 128;
  c.n_ff = 18432;
  c.rms_eps = 1e-6f;
  c.rope_freq_base = 10000.0f;
  c.rope_scaling = model::RopeScaling::kYarn;
  c.rope_scaling_factor = 40.0f;
  c.rope_scaling_orig_ctx = 4096;
  // MLA, absorbed form as llama.cpp writes it: one latent "KV head" of kv_lora + rope values.
  c.mla = true;
  c.q_lora_rank = 1536;
  c.kv_lora_rank = 512;
  c.rope_dim = 64;
  c.mla_k_dim = 128 + 64;  // qk_nope_head_dim + qk_rope_head_dim
  c.mla_v_dim = 128;
  c.n_head_kv = 1;
  c.head_dim_k = c.kv_lora_rank + c.rope_dim;
  c.head_dim_v = c.kv_lora_rank;
  // MoE.
  c.n_expert = 256;
  c.n_expert_used = 8;
  c.n_ff_exp = 2048;
  c.n_expert_shared = 1;
  c.n_layer_dense_lead = 3;
  c.n_expert_groups = 8;
  c.n_group_used = 4;
  c.expert_gating = model::ExpertGating::kSigmoid;
  c.expert_weights_norm = true;
  c.expert_weights_scale = 2.5f;
  c.has_exp_probs_b = true;
  return c;
}

ModelConfig KimiK2Shape() {
  ModelConfig c = DeepseekV3Shape();
  c.n_vocab = 163840;
  c.n_ctx_train = 131072;
  c.n_head = 64;
  c.n_expert = 384;
  c.n_layer_dense_lead = 1;
  c.n_expert_groups = 1;
  c.n_group_used = 1;
  c.expert_weights_scale = 2.827f;
  c.rope_freq_base = 50000.0f;
  c.rope_scaling_factor = 32.0f;
  return c;
}

// Qwen3 MoE: https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json
//   vocab_size 151936, hidden_size 4096, num_hidden_layers 94, num_attention_heads 64,
//   num_key_value_heads 4, head_dim 128, num_experts 128, num_experts_per_tok 8,
//   moe_intermediate_size 1536, intermediate_size 12288 (unused: every layer is MoE,
//   decoder_sparse_step 1, mlp_only_layers []), norm_topk_prob true, tie_word_embeddings false,
//   rope_theta 1000000, max_position_embeddings 40960, rms_norm_eps 1e-6.
// https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json: hidden_size 2048,
//   num_hidden_layers 48, num_attention_heads 32, num_key_value_heads 4, head_dim 128,
//   moe_intermediate_size 768, intermediate_size 6144; the rest as above.
ModelConfig Qwen3MoeShape(int32_t embd, int32_t layers, int32_t heads, int32_t ff_exp, int32_t ff) {
  ModelConfig c;
  c.arch = "qwen3moe";
  c.n_vocab = 151936;
  c.n_ctx_train = 40960;
  c.n_embd = embd;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_head_kv = 4;
  c.head_dim_k = c.head_dim_v = c.rope_dim = 128;
  c.n_ff = ff;
  c.rms_eps = 1e-6f;
  c.rope_freq_base = 1e6f;
  c.rope_style = model::RopeStyle::kNeox;
  c.qk_norm = true;
  c.n_expert = 128;
  c.n_expert_used = 8;
  c.n_ff_exp = ff_exp;
  c.expert_weights_norm = true;
  return c;
}

// Llama 3.1: https://huggingface.co/meta-llama/Llama-3.1-70B/blob/main/config.json
//   vocab_size 128256, hidden_size 8192, intermediate_size 28672, num_hidden_layers 80,
//   num_attention_heads 64, num_key_value_heads 8, rope_theta 500000, rope_scaling llama3
//   (factor 8 of 8192), max_position_embeddings 131072, rms_norm_eps 1e-5, untied output.
// https://huggingface.co/meta-llama/Llama-3.1-405B/blob/main/config.json: hidden_size 16384,
//   intermediate_size 53248, num_hidden_layers 126, num_attention_heads 128,
//   num_key_value_heads 8; the rest as above.
ModelConfig Llama31Shape(int32_t embd, int32_t ff, int32_t layers, int32_t heads) {
  ModelConfig c;
  c.arch = "llama";
  c.n_vocab = 128256;
  c.n_ctx_train = 131072;
  c.n_embd = embd;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_head_kv = 8;
  c.head_dim_k = c.head_dim_v = c.rope_dim = embd / heads;
  c.n_ff = ff;
  c.rms_eps = 1e-5f;
  c.rope_freq_base = 500000.0f;
  c.rope_scaling = model::RopeScaling::kLlama3;
  c.rope_scaling_factor = 8.0f;
  c.rope_scaling_orig_ctx = 8192;
  c.has_rope_freqs = true;  // llama.cpp writes rope_freqs.weight for Llama 3.1
  return c;
}

// The layers llama.cpp's Q4_K_M gives Q6_K (its "use more bits" rule for attn_v / ffn_down).
bool MoreBits(int32_t layer, int32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

bool MoreBitsRole(model::TensorRole r) {
  using model::TensorRole;
  return r == TensorRole::kAttnV || r == TensorRole::kFfnDown || r == TensorRole::kFfnDownExps ||
         r == TensorRole::kFfnDownShexp;
}

// A type whose blocks divide the row, falling back to q8_0, then f16.
DType Fit(DType t, int64_t cols) {
  if (cols % Info(t).block_values == 0) return t;
  if (cols % Info(DType::kQ8_0).block_values == 0) return DType::kQ8_0;
  return DType::kF16;
}

}  // namespace

const std::vector<ModelPreset>& ModelPresets() {
  static const std::vector<ModelPreset>* presets = new std::vector<ModelPreset>{
      {"deepseek-v3", "deepseek-v3.1 deepseek-r1 deepseek-v3-0324 deepseek-r1-0528",
       "huggingface.co/deepseek-ai/DeepSeek-V3 config.json", DeepseekV3Shape()},
      {"kimi-k2", "kimi-k2-instruct kimi-k2-thinking kimi-k2-base",
       "huggingface.co/moonshotai/Kimi-K2-Instruct config.json", KimiK2Shape()},
      {"qwen3-235b-a22b", "qwen3-235b", "huggingface.co/Qwen/Qwen3-235B-A22B config.json",
       Qwen3MoeShape(4096, 94, 64, 1536, 12288)},
      {"qwen3-30b-a3b", "qwen3-30b", "huggingface.co/Qwen/Qwen3-30B-A3B config.json",
       Qwen3MoeShape(2048, 48, 32, 768, 6144)},
      {"llama-3.1-70b", "llama-3.3-70b llama3.1-70b",
       "huggingface.co/meta-llama/Llama-3.1-70B config.json", Llama31Shape(8192, 28672, 80, 64)},
      {"llama-3.1-405b", "llama3.1-405b", "huggingface.co/meta-llama/Llama-3.1-405B config.json",
       Llama31Shape(16384, 53248, 126, 128)},
  };
  return *presets;
}

StatusOr<ModelPreset> FindPreset(std::string_view name) {
  const std::string want = Lower(name);
  std::string names;
  for (const ModelPreset& p : ModelPresets()) {
    if (p.name == want) return p;
    std::string aliases = " " + p.aliases + " ";
    if (aliases.find(" " + want + " ") != std::string::npos) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return NotFound("no model preset '" + std::string(name) + "' (presets: " + names + ")");
}

StatusOr<ModelDesc> DescribeConfig(const model::ModelConfig& config, std::string_view type) {
  const model::Arch* arch = model::FindArch(config.arch);
  if (arch == nullptr) return InvalidArgument("architecture '" + config.arch + "' is unknown");
  const std::string t = Lower(type);
  const bool k_m = t == "q4_k_m";
  DType base = DType::kQ4_K;
  if (!k_m) {
    const std::optional<DType> d = DTypeFromName(t);
    if (!d) return InvalidArgument("unknown weight type '" + std::string(type) + "'");
    base = *d;
  }
  ModelDesc desc;
  desc.config = config;
  arch->for_each_tensor(config, [&](const model::TensorSpec& spec) {
    DType dt = DType::kF32;  // vectors; and the routers, which GGUF files keep in f32
    if (spec.matrix && spec.role != model::TensorRole::kFfnGateInp) {
      dt = base;
      if (k_m &&
          (spec.role == model::TensorRole::kOutput ||
           (spec.layer >= 0 && MoreBitsRole(spec.role) && MoreBits(spec.layer, config.n_layer)))) {
        dt = DType::kQ6_K;
      }
      dt = Fit(dt, spec.shape[0]);
    }
    desc.tensors.push_back({spec, dt});
  });
  return desc;
}

ParamCounts CountParams(const ModelDesc& desc) {
  const model::ModelConfig& c = desc.config;
  ParamCounts n;
  for (const ModelDesc::Tensor& t : desc.tensors) {
    double values = 1;
    for (int64_t d : t.spec.shape) values *= double(d);
    n.total += values;
    switch (t.spec.role) {
      case model::TensorRole::kTokenEmbd:
        if (c.tied_output) n.active += values;
        break;
      case model::TensorRole::kFfnGateExps:
      case model::TensorRole::kFfnUpExps:
      case model::TensorRole::kFfnDownExps:
        n.active += values * double(c.n_expert_used) / double(c.n_expert);
        break;
      default:
        n.active += values;
    }
  }
  return n;
}

}  // namespace shoal::parallel
