// The architecture registry (design rule 3): each architecture in src/model/arch/<name>.cc
// describes its hyper-parameter defaults, its tensor list and its forward-pass flags in one Arch
// value; registry.cc lists them. Nothing else switches on the architecture.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.h"
#include "model/config.h"

namespace shoal::model {

// The role of a tensor in the shared decoder block; Model::Load binds each to a weight field.
enum class TensorRole : uint8_t {
  kTokenEmbd,
  kOutputNorm,
  kOutput,
  kRopeFreqs,
  kAttnNorm,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOut,
  kAttnQBias,
  kAttnKBias,
  kAttnVBias,
  kAttnOutBias,
  kAttnQNorm,
  kAttnKNorm,
  kFfnNorm,
  kFfnGate,
  kFfnUp,
  kFfnDown,
  // Mixture of experts. The 3-D expert tensors [ne0, ne1, n_expert] are n_expert consecutive
  // [ne1 rows][ne0] matrices, bound as one MatrixWeight of n_expert * ne1 rows.
  kFfnGateInp,    // router [n_embd, n_expert]
  kFfnExpProbsB,  // selection bias [n_expert]
  kFfnGateExps,   // [n_embd, n_ff_exp, n_expert]
  kFfnUpExps,     // [n_embd, n_ff_exp, n_expert]
  kFfnDownExps,   // [n_ff_exp, n_embd, n_expert]
  kFfnGateShexp,  // [n_embd, n_ff_exp * n_expert_shared]
  kFfnUpShexp,
  kFfnDownShexp,  // [n_ff_exp * n_expert_shared, n_embd]
  // Multi-head latent attention.
  kAttnQA,       // [n_embd, q_lora_rank]
  kAttnQANorm,   // [q_lora_rank]
  kAttnQB,       // [q_lora_rank, n_head * mla_k_dim]
  kAttnKvAMqa,   // [n_embd, kv_lora_rank + rope_dim]
  kAttnKvANorm,  // [kv_lora_rank]
  kAttnKB,       // [qk_nope, kv_lora_rank, n_head]
  kAttnVB,       // [kv_lora_rank, mla_v_dim, n_head]
  kAttnKvB,      // older files: [kv_lora_rank, n_head * (qk_nope + mla_v_dim)]
};

struct TensorSpec {
  std::string name;  // "blk.3.attn_q.weight"
  TensorRole role;
  int32_t layer;               // -1 for global tensors
  std::vector<int64_t> shape;  // ne[0] first, as GGUF stores it
  bool matrix;                 // a 2D weight used by MatMul (or the embedding); else f32 vector
};
using TensorVisitor = std::function<void(const TensorSpec&)>;

struct Arch {
  std::string_view name;  // general.architecture
  RopeStyle rope_style;
  float default_rms_eps;
  // Reads architecture-specific keys and sets the forward-pass flags on a config whose common
  // fields are parsed. May be null.
  Status (*parse)(const gguf::Metadata& md, ModelConfig* cfg);
  // Every tensor the model needs, in file order. Used by loading and checking.
  void (*for_each_tensor)(const ModelConfig& cfg, const TensorVisitor& visit);
};

const Arch* FindArch(std::string_view name);  // nullptr when not registered
std::span<const Arch* const> Archs();

// The tensor list of a standard pre-norm decoder (llama family) with the optional tensors that
// cfg's flags switch on. Architectures that differ only in flags use it as their for_each_tensor.
// With n_expert > 0 its layers from n_layer_dense_lead on have the MoE FFN (qwen3moe).
void ForEachDecoderTensor(const ModelConfig& cfg, const TensorVisitor& visit);
// The FFN tensors of layer l: dense, or router + experts (+ bias, shared experts) when
// cfg.IsMoeLayer(l). p is the layer's name prefix ("blk.3.").
void ForEachFfnTensor(const ModelConfig& cfg, int32_t l, const std::string& p,
                      const TensorVisitor& visit);

}  // namespace shoal::model
