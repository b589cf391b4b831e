#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "model/arch.h"

namespace shoal::model {
namespace {

std::string Key(const std::string& arch, const char* suffix) { return arch + "." + suffix; }

// An int32 key that must be present and > 0.
Status GetPositive(const gguf::Metadata& md, const std::string& key, int32_t* out) {
  SHOAL_ASSIGN_OR_RETURN(const uint64_t v, md.GetUint(key));
  if (v == 0 || v > (uint64_t{1} << 30)) {
    return InvalidArgument("metadata '" + key + "' = " + std::to_string(v) + " is out of range");
  }
  *out = static_cast<int32_t>(v);
  return Status::Ok();
}

// An optional int32 key: dflt when absent; present values must be > 0.
Status GetPositiveOr(const gguf::Metadata& md, const std::string& key, int32_t dflt, int32_t* out) {
  if (!md.Has(key)) {
    *out = dflt;
    return Status::Ok();
  }
  return GetPositive(md, key, out);
}

Status ParseRopeScaling(const gguf::Metadata& md, ModelConfig* c) {
  const std::string& a = c->arch;
  const std::string type = md.GetStringOr(Key(a, "rope.scaling.type"), "none");
  double factor = md.GetFloatOr(Key(a, "rope.scaling.factor"), 0.0);
  if (factor == 0.0 && md.Has(Key(a, "rope.scale_linear"))) {  // older converters
    factor = md.GetFloatOr(Key(a, "rope.scale_linear"), 1.0);
    if (type == "none" && factor != 1.0) {
      c->rope_scaling = RopeScaling::kLinear;
    }
  }
  if (type == "none") {
  } else if (type == "linear") {
    c->rope_scaling = RopeScaling::kLinear;
  } else if (type == "yarn") {
    c->rope_scaling = RopeScaling::kYarn;
  } else if (type == "llama3") {
    c->rope_scaling = RopeScaling::kLlama3;
  } else {
    return Unimplemented("metadata '" + Key(a, "rope.scaling.type") + "' = '" + type +
                         "': only none, linear, yarn and llama3 are supported");
  }
  c->rope_scaling_factor = factor > 0.0 ? static_cast<float>(factor) : 1.0f;
  if (!(c->rope_scaling_factor >= 1.0f && c->rope_scaling_factor < 1e6f)) {
    return InvalidArgument("metadata '" + Key(a, "rope.scaling.factor") +
                           "' = " + std::to_string(factor) + " is out of range");
  }
  c->rope_scaling_orig_ctx = static_cast<int32_t>(
      md.GetUintOr(Key(a, "rope.scaling.original_context_length"), c->n_ctx_train));
  c->yarn_beta_fast =
      static_cast<float>(md.GetFloatOr(Key(a, "rope.scaling.yarn_beta_fast"), 32.0));
  c->yarn_beta_slow = static_cast<float>(md.GetFloatOr(Key(a, "rope.scaling.yarn_beta_slow"), 1.0));
  c->yarn_attn_factor = static_cast<float>(md.GetFloatOr(Key(a, "rope.scaling.attn_factor"), 1.0));
  return Status::Ok();
}

}  // namespace

uint64_t ModelConfig::KvCacheBytes(int32_t n_ctx) const {
  return uint64_t(n_layer) * uint64_t(n_ctx) * uint64_t(kv_values_per_layer()) * 2;
}

std::string ModelConfig::ToString() const {
  static const char* kScaling[] = {"none", "linear", "yarn", "llama3"};
  std::ostringstream o;
  o << "arch: " << arch << "\nn_vocab: " << n_vocab << "\nn_ctx_train: " << n_ctx_train
    << "\nn_embd: " << n_embd << "\nn_layer: " << n_layer << "\nn_head: " << n_head
    << "\nn_head_kv: " << n_head_kv << "\nhead_dim_k: " << head_dim_k
    << "\nhead_dim_v: " << head_dim_v << "\nn_ff: " << n_ff << "\nrms_eps: " << rms_eps
    << "\nrope_freq_base: " << rope_freq_base << "\nrope_dim: " << rope_dim
    << "\nrope_style: " << (rope_style == RopeStyle::kNeox ? "neox" : "normal")
    << "\nrope_scaling: " << kScaling[static_cast<int>(rope_scaling)]
    << "\nrope_scaling_factor: " << rope_scaling_factor
    << "\nrope_scaling_orig_ctx: " << rope_scaling_orig_ctx << "\ntied_output: " << tied_output
    << "\nattn_qkv_bias: " << attn_qkv_bias << "\nattn_out_bias: " << attn_out_bias
    << "\nqk_norm: " << qk_norm;
  if (n_expert > 0) {
    o << "\nn_expert: " << n_expert << "\nn_expert_used: " << n_expert_used
      << "\nn_ff_exp: " << n_ff_exp << "\nn_expert_shared: " << n_expert_shared
      << "\nn_layer_dense_lead: " << n_layer_dense_lead << "\nn_expert_groups: " << n_expert_groups
      << "\nn_group_used: " << n_group_used
      << "\nexpert_gating: " << (expert_gating == ExpertGating::kSigmoid ? "sigmoid" : "softmax")
      << "\nexpert_weights_norm: " << expert_weights_norm
      << "\nexpert_weights_scale: " << expert_weights_scale
      << "\nhas_exp_probs_b: " << has_exp_probs_b;
  }
  if (mla) {
    o << "\nq_lora_rank: " << q_lora_rank << "\nkv_lora_rank: " << kv_lora_rank
      << "\nmla_k_dim: " << mla_k_dim << "\nmla_v_dim: " << mla_v_dim << "\nmla_kv_b: " << mla_kv_b
      << "\nrope_yarn_log_mul: " << rope_yarn_log_mul;
  }
  if (attn_scale != 0.0f) o << "\nattn_scale: " << attn_scale;
  o << "\n";
  return o.str();
}

StatusOr<ModelConfig> ParseConfig(const gguf::Metadata& md, const gguf::File* file) {
  ModelConfig c;
  SHOAL_ASSIGN_OR_RETURN(c.arch, md.GetString("general.architecture"));
  const Arch* arch = FindArch(c.arch);
  if (arch == nullptr) {
    std::string known;
    for (const Arch* a : Archs()) known += (known.empty() ? "" : ", ") + std::string(a->name);
    return Unimplemented("architecture '" + c.arch + "' is not supported (supported: " + known +
                         ")");
  }
  const std::string& a = c.arch;
  SHOAL_ASSIGN_OR_RETURN(const std::vector<std::string> tokens,
                         md.GetStringArray("tokenizer.ggml.tokens"));
  if (tokens.empty() || tokens.size() > (size_t{1} << 30)) {
    return InvalidArgument("metadata 'tokenizer.ggml.tokens' has " + std::to_string(tokens.size()) +
                           " entries");
  }
  c.n_vocab = static_cast<int32_t>(tokens.size());
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "block_count"), &c.n_layer));
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "embedding_length"), &c.n_embd));
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "feed_forward_length"), &c.n_ff));
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "attention.head_count"), &c.n_head));
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "context_length"), &c.n_ctx_train));
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "attention.head_count_kv"), c.n_head, &c.n_head_kv));
  if (c.n_head % c.n_head_kv != 0) {
    return InvalidArgument("attention.head_count " + std::to_string(c.n_head) +
                           " is not a multiple of attention.head_count_kv " +
                           std::to_string(c.n_head_kv));
  }
  const bool has_key_length = md.Has(Key(a, "attention.key_length"));
  if (!has_key_length && c.n_embd % c.n_head != 0) {
    return InvalidArgument("embedding_length " + std::to_string(c.n_embd) +
                           " is not a multiple of attention.head_count " +
                           std::to_string(c.n_head) + " and attention.key_length is absent");
  }
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "attention.key_length"), c.n_embd / c.n_head, &c.head_dim_k));
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "attention.value_length"), c.head_dim_k, &c.head_dim_v));
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "rope.dimension_count"), c.head_dim_k, &c.rope_dim));
  if (c.rope_dim > c.head_dim_k || c.rope_dim % 2 != 0) {
    return InvalidArgument("rope.dimension_count " + std::to_string(c.rope_dim) +
                           " must be even and at most the head size " +
                           std::to_string(c.head_dim_k));
  }
  c.rms_eps = static_cast<float>(
      md.GetFloatOr(Key(a, "attention.layer_norm_rms_epsilon"), arch->default_rms_eps));
  c.rope_freq_base = static_cast<float>(md.GetFloatOr(Key(a, "rope.freq_base"), 10000.0));
  if (!(c.rms_eps > 0.0f) || !(c.rope_freq_base > 1.0f)) {
    return InvalidArgument("metadata: rms epsilon " + std::to_string(c.rms_eps) +
                           " or rope.freq_base " + std::to_string(c.rope_freq_base) +
                           " out of range");
  }
  c.rope_style = arch->rope_style;
  SHOAL_RETURN_IF_ERROR(ParseRopeScaling(md, &c));
  if (arch->parse != nullptr) SHOAL_RETURN_IF_ERROR(arch->parse(md, &c));
  if (file != nullptr) {
    c.tied_output = file->FindTensor("output.weight") == nullptr;
    c.has_rope_freqs = file->FindTensor("rope_freqs.weight") != nullptr;
    // Optional tensors switch their flag on (some llama-family converters write biases).
    if (file->FindTensor("blk.0.attn_q.bias") != nullptr) c.attn_qkv_bias = true;
    if (file->FindTensor("blk.0.attn_output.bias") != nullptr) c.attn_out_bias = true;
    if (c.n_expert > 0) {
      const std::string l = std::to_string(std::min(c.n_layer_dense_lead, c.n_layer - 1));
      c.has_exp_probs_b = file->FindTensor("blk." + l + ".exp_probs_b.bias") != nullptr;
      c.fused_gate_up_exps = file->FindTensor("blk." + l + ".ffn_gate_up_exps.weight") != nullptr;
    }
    if (c.has_rope_freqs && c.rope_scaling == RopeScaling::kNone) {
      c.rope_scaling = RopeScaling::kLlama3;
    }
  }
  return c;
}

}  // namespace shoal::model

namespace shoal::model {

StatusOr<bool> ParseMoeKeys(const gguf::Metadata& md, ModelConfig* c) {
  const std::string& a = c->arch;
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "expert_count"), &c->n_expert));
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "expert_used_count"), &c->n_expert_used));
  if (c->n_expert_used > c->n_expert) {
    return InvalidArgument("expert_used_count " + std::to_string(c->n_expert_used) +
                           " exceeds expert_count " + std::to_string(c->n_expert));
  }
  SHOAL_RETURN_IF_ERROR(GetPositiveOr(md, Key(a, "expert_feed_forward_length"),
                                      std::max(1, c->n_ff / c->n_expert_used), &c->n_ff_exp));
  auto uint_or = [&](const char* k, uint64_t d) { return md.GetUintOr(Key(a, k), d); };
  const uint64_t shared = uint_or("expert_shared_count", 0),
                 lead = uint_or("leading_dense_block_count", 0),
                 groups = uint_or("expert_group_count", 0),
                 group_used = uint_or("expert_group_used_count", 0);
  if (shared > 64 || lead > uint64_t(c->n_layer) || groups > uint64_t(c->n_expert) ||
      group_used > groups) {
    return InvalidArgument(
        "metadata: expert_shared_count " + std::to_string(shared) + ", leading_dense_block_count " +
        std::to_string(lead) + ", expert_group_count " + std::to_string(groups) +
        " or expert_group_used_count " + std::to_string(group_used) + " out of range");
  }
  c->n_expert_shared = int32_t(shared);
  c->n_layer_dense_lead = int32_t(lead);
  c->n_expert_groups = int32_t(groups);
  c->n_group_used = int32_t(group_used);
  if (groups > 1) {
    const int64_t per_group = c->n_expert / int64_t(groups);
    if (c->n_expert % int64_t(groups) != 0 || group_used == 0 ||
        int64_t(group_used) * per_group < c->n_expert_used) {
      return InvalidArgument("metadata: " + std::to_string(c->n_expert) + " experts in " +
                             std::to_string(groups) + " groups, " + std::to_string(group_used) +
                             " used, cannot choose " + std::to_string(c->n_expert_used));
    }
  }
  const uint64_t gating = uint_or("expert_gating_func", 0);
  const bool has_gating = gating != 0;
  if (gating > 2) {
    return Unimplemented("metadata '" + Key(a, "expert_gating_func") +
                         "' = " + std::to_string(gating) + ": only 1 (softmax) and 2 (sigmoid)");
  }
  c->expert_gating = gating == 2 ? ExpertGating::kSigmoid : ExpertGating::kSoftmax;
  if (const gguf::Value* v = md.Find(Key(a, "expert_weights_norm"))) {
    const auto* b = std::get_if<bool>(&v->v);
    c->expert_weights_norm = b != nullptr ? *b : md.GetUintOr(Key(a, "expert_weights_norm"), 0);
  }
  c->expert_weights_scale = static_cast<float>(md.GetFloatOr(Key(a, "expert_weights_scale"), 0.0));
  if (!(c->expert_weights_scale >= 0.0f && c->expert_weights_scale < 1e6f)) {
    return InvalidArgument("metadata '" + Key(a, "expert_weights_scale") + "' out of range");
  }
  return has_gating;
}

Status ParseMlaKeys(const gguf::Metadata& md, ModelConfig* c) {
  const std::string& a = c->arch;
  c->mla = true;
  SHOAL_RETURN_IF_ERROR(GetPositive(md, Key(a, "attention.kv_lora_rank"), &c->kv_lora_rank));
  c->q_lora_rank = static_cast<int32_t>(md.GetUintOr(Key(a, "attention.q_lora_rank"), 0));
  const bool has_k = md.Has(Key(a, "attention.key_length_mla"));
  const bool has_v = md.Has(Key(a, "attention.value_length_mla"));
  // Without the _mla keys the file is of the older MHA form: key/value_length are the per-head
  // sizes and one attn_kv_b holds both up-projections.
  c->mla_kv_b = !(has_k && has_v);
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "attention.key_length_mla"), c->head_dim_k, &c->mla_k_dim));
  SHOAL_RETURN_IF_ERROR(
      GetPositiveOr(md, Key(a, "attention.value_length_mla"), c->head_dim_v, &c->mla_v_dim));
  if (c->mla_k_dim <= c->rope_dim || c->q_lora_rank < 0 || c->q_lora_rank > (1 << 20)) {
    return InvalidArgument("MLA: key_length_mla " + std::to_string(c->mla_k_dim) +
                           " must exceed rope.dimension_count " + std::to_string(c->rope_dim) +
                           " (q_lora_rank " + std::to_string(c->q_lora_rank) + ")");
  }
  // The absorbed form attends one shared latent "head" of kv_lora_rank + rope values.
  c->n_head_kv = 1;
  c->head_dim_k = c->kv_lora_rank + c->rope_dim;
  c->head_dim_v = c->kv_lora_rank;
  // YaRN as llama.cpp applies it to deepseek2 (yarn_log_multiplier = 0.1 * mscale_all_dim):
  // cos/sin carry Y * (1 + 0.1 ln f), the scores mscale^2 / sqrt(mla_k_dim).
  const double log_mul_key = md.GetFloatOr(Key(a, "rope.scaling.yarn_log_multiplier"), 0.0);
  c->rope_yarn_log_mul = static_cast<float>(log_mul_key / 0.1);
  double y = 1.0, rope_mscale = 1.0;
  if (c->rope_scaling == RopeScaling::kYarn) {
    const double f = c->rope_scaling_factor;
    auto get_mscale = [f](double m) { return f <= 1.0 ? 1.0 : 0.1 * m * std::log(f) + 1.0; };
    const double lm = c->rope_yarn_log_mul;
    if (lm != 0.0) {
      const double m = lm != 1.0 ? lm : 1.0;
      y = get_mscale(m) / get_mscale(lm);
    } else {
      y = get_mscale(1.0);
    }
    y /= 1.0 + 0.1 * std::log(f);
    y *= c->yarn_attn_factor;
    rope_mscale = y * (1.0 + 0.1 * std::log(f));
    c->yarn_attn_factor = static_cast<float>(y);  // Rope multiplies by (1 + 0.1 ln f)
  }
  const double mscale =
      rope_mscale * (1.0 + 0.1 * c->rope_yarn_log_mul * std::log(double(c->rope_scaling_factor)));
  c->attn_scale = static_cast<float>(mscale * mscale / std::sqrt(double(c->mla_k_dim)));
  return Status::Ok();
}

}  // namespace shoal::model
