#include "gen_model.h"

#include <algorithm>
#include <cctype>

#include "tensor/dtype.h"

namespace shoal::cli {

Status ApplyPreset(const std::string& preset, model::GenSpec* spec) {
  if (preset.empty()) return Status::Ok();
  if (preset == "1b") {
    spec->arch = "llama";
    spec->n_embd = 2048;
    spec->n_layer = 16;
    spec->n_head = 32;
    spec->n_head_kv = 8;
    spec->n_ff = 5632;
    spec->n_vocab = 128256;
    spec->n_ctx = 8192;
    spec->rope_freq_base = 500000;
    return Status::Ok();
  }
  if (preset == "moe1b") {
    // A ~1.2B-parameter DeepSeek-shaped mixture of experts (MLA, 64 experts of which 6 are used
    // per token, 1 shared, 1 leading dense layer; ~0.2B parameters active per token): the model
    // the expert-parallel benchmark runs.
    spec->arch = "deepseek2";
    spec->n_embd = 1024;
    spec->n_layer = 12;
    spec->n_head = 16;
    spec->n_ff = 2816;
    spec->n_vocab = 32000;
    spec->n_ctx = 4096;
    spec->n_expert = 64;
    spec->n_expert_used = 6;
    spec->n_expert_shared = 1;
    spec->n_ff_exp = 512;
    spec->n_layer_dense_lead = 1;
    spec->q_lora_rank = 384;
    spec->kv_lora_rank = 256;
    spec->qk_nope_dim = 64;
    spec->qk_rope_dim = 32;
    spec->v_head_dim = 64;
    spec->expert_weights_scale = 1.0f;
    return Status::Ok();
  }
  return InvalidArgument("unknown preset '" + preset + "' (known: 1b, moe1b)");
}

Status ApplyTypeName(const std::string& name, model::GenSpec* spec) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "q4_k_m") {
    spec->mix = "q4_k_m";
    return Status::Ok();
  }
  const std::optional<DType> t = DTypeFromName(lower);
  if (!t) return InvalidArgument("unknown type '" + name + "' (" + TypeHelp() + ")");
  spec->type = *t;
  spec->mix.clear();
  return Status::Ok();
}

std::string TypeHelp() {
  return "weight type: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, "
         "q6_k, iq4_nl, iq4_xs, iq2_xxs, or the mix q4_k_m";
}

}  // namespace shoal::cli
