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
  return s;
}

std::string Shard::ToString() const {
  auto r = [](const char* name, Range x) {
    return std::string(name) + " " + std::to_string(x.begin) + "-" + std::to_string(x.end);
  };
  return r("layers", layers) + " " + r("heads", heads) + " " + r("kv", kv_heads) + " " +
         r("ff", ff) + " " + r("vocab", vocab) + (first_stage ? " first" : "") +
         (last_stage ? " last" : "");
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
  const int64_t rows = spec.shape.size() > 1 ? spec.shape[1] : 1;
  TensorSlice t{true, 0, rows, 0, cols};
  if (spec.layer >= 0 && !s.layers.contains(spec.layer)) return TensorSlice{};
  const int64_t HK = c.head_dim_k, HV = c.head_dim_v;
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
    // Mixture-of-experts and MLA tensors are not split by the tensor-parallel shard (Model::Load
    // refuses a partial shard of such a model; expert parallelism places whole experts).
    case TensorRole::kFfnGateInp:
    case TensorRole::kFfnExpProbsB:
    case TensorRole::kFfnGateExps:
    case TensorRole::kFfnUpExps:
    case TensorRole::kFfnDownExps:
    case TensorRole::kFfnGateShexp:
    case TensorRole::kFfnUpShexp:
    case TensorRole::kFfnDownShexp:
    case TensorRole::kAttnQA:
    case TensorRole::kAttnQANorm:
    case TensorRole::kAttnQB:
    case TensorRole::kAttnKvAMqa:
    case TensorRole::kAttnKvANorm:
    case TensorRole::kAttnKB:
    case TensorRole::kAttnVB:
    case TensorRole::kAttnKvB:
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
