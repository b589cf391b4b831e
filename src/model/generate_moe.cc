// The qwen3moe / deepseek2 parts of the model generator: metadata keys and tensors as
// convert_hf_to_gguf.py writes them (conversion/qwen.py Qwen3MoeModel, conversion/deepseek.py
// DeepseekV2Model), experts merged into 3-D tensors, the router (ffn_gate_inp) kept in f32.
#include <string>

#include "model/generate_internal.h"

namespace shoal::model::gen {

DType FallbackType(DType t, int64_t ne0) {
  if (ne0 % Info(t).block_values == 0) return t;
  DType f = DType::kF16;
  switch (t) {
    case DType::kQ2_K:
    case DType::kQ3_K:
      f = DType::kQ4_0;
      break;
    case DType::kQ4_K:
      f = DType::kQ5_0;
      break;
    case DType::kIQ2_XXS:  // llama-quantize's fallback for the grid i-quants
      f = DType::kQ4_0;
      break;
    case DType::kQ5_K:
      f = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      f = DType::kQ8_0;
      break;
    default:
      break;
  }
  return ne0 % Info(f).block_values == 0 ? f : DType::kF16;
}

Status CheckMoeSpec(const GenSpec& s) {
  const bool ds2 = s.arch == "deepseek2";
  if (!s.mix.empty()) return InvalidArgument("gen-model: mixes are for dense architectures");
  if (!ds2 && s.fuse_gate_up_exps) {  // llama.cpp reads ffn_gate_up_exps for deepseek2 only
    return InvalidArgument("gen-model: fused gate/up experts are for deepseek2");
  }
  if (s.n_expert <= 0 || s.n_expert_used <= 0 || s.n_expert_used > s.n_expert || s.n_ff_exp <= 0 ||
      s.n_expert > 256) {
    return InvalidArgument("gen-model: need 0 < n_expert_used <= n_expert <= 256, n_ff_exp > 0");
  }
  if (!ds2) return Status::Ok();
  if (s.n_expert_shared < 0 || s.n_layer_dense_lead < 0 || s.n_layer_dense_lead > s.n_layer ||
      s.q_lora_rank < 0 || s.kv_lora_rank <= 0 || s.qk_nope_dim <= 0 || s.qk_rope_dim <= 0 ||
      s.qk_rope_dim % 2 != 0 || s.v_head_dim <= 0) {
    return InvalidArgument(
        "gen-model: deepseek2 needs kv_lora_rank, qk_nope_dim, v_head_dim > 0, an even "
        "qk_rope_dim > 0, q_lora_rank >= 0, 0 <= n_layer_dense_lead <= n_layer");
  }
  if (s.n_expert_groups > 1) {
    // llama.cpp: groups divide the experts, 0 < groups used < groups.
    if (s.n_expert % s.n_expert_groups != 0 || s.n_group_used <= 0 ||
        s.n_group_used >= s.n_expert_groups ||
        s.n_group_used * (s.n_expert / s.n_expert_groups) < s.n_expert_used) {
      return InvalidArgument(
          "gen-model: expert groups must divide n_expert, 0 < n_group_used < "
          "n_expert_groups, enough experts in the groups used");
    }
  }
  if (s.yarn_factor != 0.0f && !(s.yarn_factor > 1.0f)) {
    return InvalidArgument("gen-model: yarn_factor must be > 1 (or 0: no YaRN)");
  }
  return Status::Ok();
}

void AddMoeMetadata(const GenSpec& s, int64_t n_vocab, gguf::Metadata* md) {
  const std::string& a = s.arch;
  auto u32 = [&](const char* k, int64_t v) {
    md->Set(a + "." + k, gguf::Value::U32(static_cast<uint32_t>(v)));
  };
  u32("expert_count", s.n_expert);
  u32("expert_used_count", s.n_expert_used);
  if (a == "qwen3moe") {
    u32("expert_feed_forward_length", s.n_ff_exp);
    return;
  }
  if (s.n_expert_groups > 0) {
    u32("expert_group_count", s.n_expert_groups);
    u32("expert_group_used_count", s.n_group_used);
  }
  u32("expert_gating_func", s.expert_sigmoid ? 2 : 1);
  u32("leading_dense_block_count", s.n_layer_dense_lead);
  u32("vocab_size", n_vocab);
  if (s.q_lora_rank > 0) u32("attention.q_lora_rank", s.q_lora_rank);
  u32("attention.kv_lora_rank", s.kv_lora_rank);
  if (s.legacy_kv_b) {  // older converters: the per-head (MHA) sizes, no _mla keys
    u32("attention.key_length", s.qk_nope_dim + s.qk_rope_dim);
    u32("attention.value_length", s.v_head_dim);
  } else {
    u32("attention.key_length", s.kv_lora_rank + s.qk_rope_dim);
    u32("attention.value_length", s.kv_lora_rank);
    u32("attention.key_length_mla", s.qk_nope_dim + s.qk_rope_dim);
    u32("attention.value_length_mla", s.v_head_dim);
  }
  u32("expert_feed_forward_length", s.n_ff_exp);
  u32("expert_shared_count", s.n_expert_shared);
  if (s.expert_weights_scale != 0.0f) {
    md->Set(a + ".expert_weights_scale", gguf::Value::F32(s.expert_weights_scale));
  }
  if (s.expert_weights_norm) md->Set(a + ".expert_weights_norm", gguf::Value::Bool(true));
  u32("rope.dimension_count", s.qk_rope_dim);
  if (s.yarn_factor > 1.0f) {
    const int64_t orig =
        s.yarn_orig_ctx > 0 ? s.yarn_orig_ctx : static_cast<int64_t>(s.n_ctx / s.yarn_factor);
    md->Set(a + ".rope.scaling.type", gguf::Value::Str("yarn"));
    md->Set(a + ".rope.scaling.factor", gguf::Value::F32(s.yarn_factor));
    u32("rope.scaling.original_context_length", orig);
    md->Set(a + ".rope.scaling.yarn_beta_fast", gguf::Value::F32(32.0f));
    md->Set(a + ".rope.scaling.yarn_beta_slow", gguf::Value::F32(1.0f));
    if (s.yarn_mscale_all_dim != 0.0f) {
      md->Set(a + ".rope.scaling.yarn_log_multiplier",
              gguf::Value::F32(0.1f * s.yarn_mscale_all_dim));
    }
  }
}

void AddMlaTensors(const GenSpec& s, int l, DType type, std::vector<GenTensor>* ts) {
  const std::string p = "blk." + std::to_string(l) + ".";
  const int64_t e = s.n_embd, nh = s.n_head, kvl = s.kv_lora_rank, rope = s.qk_rope_dim;
  const int64_t nope = s.qk_nope_dim, kq = nope + rope, vd = s.v_head_dim;
  if (s.q_lora_rank > 0) {
    const int64_t ql = s.q_lora_rank;
    ts->push_back({p + "attn_q_a.weight", {e, ql}, type, Init::kMatrix, {}});
    ts->push_back({p + "attn_q_a_norm.weight", {ql}, DType::kF32, Init::kNorm, {}});
    ts->push_back({p + "attn_q_b.weight", {ql, nh * kq}, type, Init::kMatrix, {}});
  } else {
    ts->push_back({p + "attn_q.weight", {e, nh * kq}, type, Init::kMatrix, {}});
  }
  ts->push_back({p + "attn_kv_a_mqa.weight", {e, kvl + rope}, type, Init::kMatrix, {}});
  ts->push_back({p + "attn_kv_a_norm.weight", {kvl}, DType::kF32, Init::kNorm, {}});
  if (s.legacy_kv_b) {
    ts->push_back({p + "attn_kv_b.weight", {kvl, nh * (nope + vd)}, type, Init::kMatrix, {}});
  } else {
    // k_b is stored transposed per head ([kv_lora rows][qk_nope]): its rows have qk_nope values,
    // but its fan-in in the non-absorbed product is kv_lora_rank. The std follows ne0 like every
    // other matrix; it only sets the scale of the random scores.
    ts->push_back({p + "attn_k_b.weight", {nope, kvl, nh}, type, Init::kMatrix, {}});
    ts->push_back({p + "attn_v_b.weight", {kvl, vd, nh}, type, Init::kMatrix, {}});
  }
  ts->push_back({p + "attn_output.weight", {nh * vd, e}, type, Init::kMatrix, {}});
}

void AddMoeFfnTensors(const GenSpec& s, int l, DType type, std::vector<GenTensor>* ts) {
  const std::string p = "blk." + std::to_string(l) + ".";
  const int64_t e = s.n_embd, ne = s.n_expert, fe = s.n_ff_exp;
  const bool ds2 = s.arch == "deepseek2";
  ts->push_back({p + "ffn_norm.weight", {e}, DType::kF32, Init::kNorm, {}});
  if (ds2 && l < s.n_layer_dense_lead) {
    ts->push_back({p + "ffn_gate.weight", {e, s.n_ff}, type, Init::kMatrix, {}});
    ts->push_back({p + "ffn_up.weight", {e, s.n_ff}, type, Init::kMatrix, {}});
    ts->push_back({p + "ffn_down.weight", {s.n_ff, e}, type, Init::kMatrix, {}});
    return;
  }
  ts->push_back({p + "ffn_gate_inp.weight", {e, ne}, DType::kF32, Init::kMatrix, {}});
  if (ds2 && s.exp_probs_b) {
    ts->push_back({p + "exp_probs_b.bias", {ne}, DType::kF32, Init::kBias, {}});
  }
  const DType xt = s.expert_type.value_or(type);
  if (s.fuse_gate_up_exps) {
    ts->push_back({p + "ffn_gate_up_exps.weight", {e, 2 * fe, ne}, xt, Init::kMatrix, {}});
  } else {
    ts->push_back({p + "ffn_gate_exps.weight", {e, fe, ne}, xt, Init::kMatrix, {}});
    ts->push_back({p + "ffn_up_exps.weight", {e, fe, ne}, xt, Init::kMatrix, {}});
  }
  ts->push_back({p + "ffn_down_exps.weight", {fe, e, ne}, xt, Init::kMatrix, {}});
  if (ds2 && s.n_expert_shared > 0) {
    const int64_t fs = fe * s.n_expert_shared;
    ts->push_back({p + "ffn_gate_shexp.weight", {e, fs}, type, Init::kMatrix, {}});
    ts->push_back({p + "ffn_up_shexp.weight", {e, fs}, type, Init::kMatrix, {}});
    ts->push_back({p + "ffn_down_shexp.weight", {fs, e}, type, Init::kMatrix, {}});
  }
}

}  // namespace shoal::model::gen
