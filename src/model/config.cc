#include "model/config.h"

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
  return uint64_t(n_layer) * uint64_t(n_ctx) * (uint64_t(n_embd_k()) + uint64_t(n_embd_v())) * 2;
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
    << "\nqk_norm: " << qk_norm << "\n";
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
    if (c.has_rope_freqs && c.rope_scaling == RopeScaling::kNone) {
      c.rope_scaling = RopeScaling::kLlama3;
    }
  }
  return c;
}

}  // namespace shoal::model
