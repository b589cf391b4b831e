#include "model/shard.h"

#include <string>

namespace shoal::model {

Shard Shard::Whole(const ModelConfig& c) {
  Shard s;
  s.layers = {0, c.n_layer};
  s.heads = {0, c.n_head};
  s.kv_heads = {0, c.n_head_kv};
  s.ff = {0, c.n_ff};
  s.vocab = {0, c.n_vocab};
  s.experts = {0, c.n_expert};
  s.exp_ff = {0, c.n_expert > 0 ? c.n_ff_exp : 0};
  s.shexp = {0, c.n_ff_exp * c.n_expert_shared};
  return s;
}

std::string Shard::ToString() const {
  std::string out;
  auto r = [&out](const char* name, Range x) {
    if (!out.empty()) out += ' ';
    out += name;
    out += ' ';
    out += std::to_string(x.begin);
    out += '-';
    out += std::to_string(x.end);
  };
  r("layers", layers);
  r("heads", heads);
  r("kv", kv_heads);
  r("ff", ff);
  r("vocab", vocab);
  if (!experts.empty() || !shexp.empty()) {
    r("experts", experts);
    r("exp_ff", exp_ff);
    r("shexp", shexp);
  }
  if (first_stage) out += " first";
  if (last_stage) out += " last";
  return out;
}

Status ValidateShard(const ModelConfig& c, const Shard& s) {
  auto check = [](const char* what, Range r, int32_t n) -> Status {
    if (r.begin < 0 || r.end > n || r.begin > r.end) {
      return InvalidArgument(std::string("shard ") + what + " range [" + std::to_string(r.begin) +
                             ", " + std::to_string(r.end) + ") is outside [0, " +
                             std::to_string(n) + ")");
    }
    return Status::Ok();
  };
  SHOAL_RETURN_IF_ERROR(check("layer", s.layers, c.n_layer));
  SHOAL_RETURN_IF_ERROR(check("head", s.heads, c.n_head));
  SHOAL_RETURN_IF_ERROR(check("kv head", s.kv_heads, c.n_head_kv));
  SHOAL_RETURN_IF_ERROR(check("ffn", s.ff, c.n_ff));
  SHOAL_RETURN_IF_ERROR(check("vocab", s.vocab, c.n_vocab));
  SHOAL_RETURN_IF_ERROR(check("expert", s.experts, c.n_expert));
  SHOAL_RETURN_IF_ERROR(check("expert column", s.exp_ff, c.n_expert > 0 ? c.n_ff_exp : 0));
  SHOAL_RETURN_IF_ERROR(check("shared-expert column", s.shexp, c.n_ff_exp * c.n_expert_shared));
  if (!s.heads.empty()) {
    const int32_t group = c.n_head / c.n_head_kv;
    const Range need{s.heads.begin / group, (s.heads.end - 1) / group + 1};
    if (need.begin < s.kv_heads.begin || need.end > s.kv_heads.end) {
      return InvalidArgument("shard kv heads [" + std::to_string(s.kv_heads.begin) + ", " +
                             std::to_string(s.kv_heads.end) + ") do not cover query heads [" +
                             std::to_string(s.heads.begin) + ", " + std::to_string(s.heads.end) +
                             "), which read kv heads [" + std::to_string(need.begin) + ", " +
                             std::to_string(need.end) + ")");
    }
  }
  return Status::Ok();
}

TensorSlice SliceFor(const ModelConfig& c, const Shard& s, const TensorSpec& spec) {
  const int64_t cols = spec.shape[0];
  int64_t rows = 1;  // a 3-D tensor is shape[2] matrices of shape[1] rows, one after another
  for (size_t i = 1; i < spec.shape.size(); ++i) rows *= spec.shape[i];
  const int64_t per = spec.shape.size() > 1 ? spec.shape[1] : 1;  // rows of one expert / head
  TensorSlice t{true, 0, rows, 0, cols};
  if (spec.layer >= 0 && !s.layers.contains(spec.layer)) return TensorSlice{};
  // Per-head widths: MLA's query and value heads (mla_k_dim, mla_v_dim) before absorption.
  const int64_t HK = c.mla ? c.mla_k_dim : c.head_dim_k, HV = c.mla ? c.mla_v_dim : c.head_dim_v;
  auto rows_of = [&](int64_t b, int64_t e) { t.row_begin = b, t.row_end = e; };
  auto cols_of = [&](int64_t b, int64_t e) { t.col_begin = b, t.col_end = e; };
  switch (spec.role) {
    case TensorRole::kTokenEmbd:  // tied models compute the logits with it too
      if (!s.first_stage && !(c.tied_output && s.last_stage)) return TensorSlice{};
      rows_of(s.vocab.begin, s.vocab.end);
      break;
    case TensorRole::kOutput:
      if (!s.last_stage) return TensorSlice{};
      rows_of(s.vocab.begin, s.vocab.end);
      break;
    case TensorRole::kAttnQ:
      rows_of(s.heads.begin * HK, s.heads.end * HK);
      break;
    case TensorRole::kAttnK:
      rows_of(s.kv_heads.begin * HK, s.kv_heads.end * HK);
      break;
    case TensorRole::kAttnV:
      rows_of(s.kv_heads.begin * HV, s.kv_heads.end * HV);
      break;
    case TensorRole::kAttnQBias:
      cols_of(s.heads.begin * HK, s.heads.end * HK);
      break;
    case TensorRole::kAttnKBias:
      cols_of(s.kv_heads.begin * HK, s.kv_heads.end * HK);
      break;
    case TensorRole::kAttnVBias:
      cols_of(s.kv_heads.begin * HV, s.kv_heads.end * HV);
      break;
    case TensorRole::kAttnOut:
      cols_of(s.heads.begin * HV, s.heads.end * HV);
      break;
    case TensorRole::kFfnGate:
    case TensorRole::kFfnUp:
      rows_of(s.ff.begin, s.ff.end);
      break;
    case TensorRole::kFfnDown:
      cols_of(s.ff.begin, s.ff.end);
      break;
    case TensorRole::kOutputNorm:
      if (!s.last_stage) return TensorSlice{};
      break;
    case TensorRole::kRopeFreqs:
    case TensorRole::kAttnNorm:
    case TensorRole::kAttnOutBias:
    case TensorRole::kAttnQNorm:
    case TensorRole::kAttnKNorm:
    case TensorRole::kFfnNorm:
      break;
    case TensorRole::kFfnGateExps:  // expert e: rows [e * per, (e + 1) * per)
    case TensorRole::kFfnUpExps:
      rows_of(s.experts.begin * per, s.experts.end * per);
      if (s.exp_ff.size() != c.n_ff_exp) {  // of each n_ff_exp rows (fused: gate, up), exp_ff
        t.group = c.n_ff_exp;
        t.group_begin = s.exp_ff.begin;
        t.group_end = s.exp_ff.end;
      }
      break;
    case TensorRole::kFfnDownExps:
      rows_of(s.experts.begin * per, s.experts.end * per);
      cols_of(s.exp_ff.begin, s.exp_ff.end);
      break;
    case TensorRole::kFfnGateShexp:
    case TensorRole::kFfnUpShexp:
      rows_of(s.shexp.begin, s.shexp.end);
      break;
    case TensorRole::kFfnDownShexp:
      cols_of(s.shexp.begin, s.shexp.end);
      break;
    case TensorRole::kAttnQB:
      rows_of(s.heads.begin * HK, s.heads.end * HK);
      break;
    case TensorRole::kAttnKB:  // head h: rows [h * per, (h + 1) * per) (per = kv_lora_rank)
    case TensorRole::kAttnVB:  // per = mla_v_dim
      rows_of(s.heads.begin * per, s.heads.end * per);
      break;
    case TensorRole::kAttnKvB:  // head h: qk_nope key rows then mla_v_dim value rows
      rows_of(s.heads.begin * (c.qk_nope_dim() + c.mla_v_dim),
              s.heads.end * (c.qk_nope_dim() + c.mla_v_dim));
      break;
    case TensorRole::kFfnGateInp:  // the router and its bias: every rank routes every token
    case TensorRole::kFfnExpProbsB:
    case TensorRole::kAttnQA:
    case TensorRole::kAttnQANorm:
    case TensorRole::kAttnKvAMqa:
    case TensorRole::kAttnKvANorm:
      break;
  }
  return t;
}

uint64_t ShardKvCacheBytes(const ModelConfig& c, const Shard& s, int32_t n_ctx) {
  if (c.mla) {  // the latent + rope key, shared by all heads
    return uint64_t(s.layers.size()) * uint64_t(n_ctx) * uint64_t(c.kv_values_per_layer()) *
           sizeof(uint16_t);
  }
  return uint64_t(s.layers.size()) * uint64_t(s.kv_heads.size()) * uint64_t(n_ctx) *
         uint64_t(c.head_dim_k + c.head_dim_v) * sizeof(uint16_t);
}

}  // namespace shoal::model
