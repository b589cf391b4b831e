// The list of architectures (the only place that names them all) and the tensor list of the
// shared pre-norm decoder.
#include <array>
#include <string>

#include "model/arch.h"

namespace shoal::model {

extern const Arch kLlamaArch;
extern const Arch kQwen2Arch;
extern const Arch kQwen3Arch;
extern const Arch kQwen3MoeArch;
extern const Arch kDeepseek2Arch;

namespace {
const std::array<const Arch*, 5> kArchs = {&kLlamaArch, &kQwen2Arch, &kQwen3Arch, &kQwen3MoeArch,
                                           &kDeepseek2Arch};
}  // namespace

const Arch* FindArch(std::string_view name) {
  for (const Arch* a : kArchs) {
    if (a->name == name) return a;
  }
  return nullptr;
}

std::span<const Arch* const> Archs() { return kArchs; }

void ForEachDecoderTensor(const ModelConfig& c, const TensorVisitor& visit) {
  const int64_t embd = c.n_embd, q = c.n_embd_q(), k = c.n_embd_k(), v = c.n_embd_v();
  const int64_t vocab = c.n_vocab;
  visit({"token_embd.weight", TensorRole::kTokenEmbd, -1, {embd, vocab}, true});
  if (c.has_rope_freqs) {
    visit({"rope_freqs.weight", TensorRole::kRopeFreqs, -1, {c.rope_dim / 2}, false});
  }
  for (int32_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    visit({p + "attn_norm.weight", TensorRole::kAttnNorm, l, {embd}, false});
    visit({p + "attn_q.weight", TensorRole::kAttnQ, l, {embd, q}, true});
    visit({p + "attn_k.weight", TensorRole::kAttnK, l, {embd, k}, true});
    visit({p + "attn_v.weight", TensorRole::kAttnV, l, {embd, v}, true});
    if (c.attn_qkv_bias) {
      visit({p + "attn_q.bias", TensorRole::kAttnQBias, l, {q}, false});
      visit({p + "attn_k.bias", TensorRole::kAttnKBias, l, {k}, false});
      visit({p + "attn_v.bias", TensorRole::kAttnVBias, l, {v}, false});
    }
    if (c.qk_norm) {
      visit({p + "attn_q_norm.weight", TensorRole::kAttnQNorm, l, {c.head_dim_k}, false});
      visit({p + "attn_k_norm.weight", TensorRole::kAttnKNorm, l, {c.head_dim_k}, false});
    }
    visit({p + "attn_output.weight",
           TensorRole::kAttnOut,
           l,
           {q / c.head_dim_k * c.head_dim_v, embd},
           true});
    if (c.attn_out_bias) {
      visit({p + "attn_output.bias", TensorRole::kAttnOutBias, l, {embd}, false});
    }
    ForEachFfnTensor(c, l, p, visit);
  }
  visit({"output_norm.weight", TensorRole::kOutputNorm, -1, {embd}, false});
  if (!c.tied_output) visit({"output.weight", TensorRole::kOutput, -1, {embd, vocab}, true});
}

void ForEachFfnTensor(const ModelConfig& c, int32_t l, const std::string& p,
                      const TensorVisitor& visit) {
  const int64_t embd = c.n_embd;
  visit({p + "ffn_norm.weight", TensorRole::kFfnNorm, l, {embd}, false});
  if (!c.IsMoeLayer(l)) {
    const int64_t ff = c.n_ff;
    visit({p + "ffn_gate.weight", TensorRole::kFfnGate, l, {embd, ff}, true});
    visit({p + "ffn_up.weight", TensorRole::kFfnUp, l, {embd, ff}, true});
    visit({p + "ffn_down.weight", TensorRole::kFfnDown, l, {ff, embd}, true});
    return;
  }
  const int64_t ne = c.n_expert, fe = c.n_ff_exp;
  visit({p + "ffn_gate_inp.weight", TensorRole::kFfnGateInp, l, {embd, ne}, true});
  if (c.has_exp_probs_b) {
    visit({p + "exp_probs_b.bias", TensorRole::kFfnExpProbsB, l, {ne}, false});
  }
  if (c.fused_gate_up_exps) {  // bound as gate_exps; MoeFfn reads both halves from it
    visit({p + "ffn_gate_up_exps.weight", TensorRole::kFfnGateExps, l, {embd, 2 * fe, ne}, true});
  } else {
    visit({p + "ffn_gate_exps.weight", TensorRole::kFfnGateExps, l, {embd, fe, ne}, true});
    visit({p + "ffn_up_exps.weight", TensorRole::kFfnUpExps, l, {embd, fe, ne}, true});
  }
  visit({p + "ffn_down_exps.weight", TensorRole::kFfnDownExps, l, {fe, embd, ne}, true});
  if (c.n_expert_shared > 0) {
    const int64_t fs = fe * c.n_expert_shared;
    visit({p + "ffn_gate_shexp.weight", TensorRole::kFfnGateShexp, l, {embd, fs}, true});
    visit({p + "ffn_up_shexp.weight", TensorRole::kFfnUpShexp, l, {embd, fs}, true});
    visit({p + "ffn_down_shexp.weight", TensorRole::kFfnDownShexp, l, {fs, embd}, true});
  }
}

}  // namespace shoal::model
