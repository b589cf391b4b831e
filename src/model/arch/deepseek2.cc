// deepseek2: DeepSeek-V2 / V2.5 / V3 / V3.1 / R1, Kimi-K2. Multi-head latent attention (MLA) and
// a mixture of experts after n_layer_dense_lead dense layers, as llama.cpp's converter writes
// them:
//   q      = attn_q_b · RMSNorm(attn_q_a · n) · attn_q_a_norm   (or attn_q · n when q_lora_rank 0)
//            each head: [qk_nope | rope_dim], rope on the last rope_dim values
//   kv_a   = attn_kv_a_mqa · n = [c (kv_lora_rank) | k_pe (rope_dim)];  c = RMSNorm(c) · kv_a_norm
//   k_h    = [attn_k_b[h]^T c | rope(k_pe)],  v_h = attn_v_b[h] c  (attn_k_b: [kv_lora][qk_nope])
//   scores = q_h · k_h · mscale^2 / sqrt(qk_nope + rope_dim)  (YaRN mscale, see ParseMlaKeys)
// Rope pairs adjacent dimensions (llama.cpp's LLAMA_ROPE_TYPE_NORM for this architecture).
// Only the latent c and the roped k_pe are cached: kv_lora_rank + rope_dim values per token.
// MoE: softmax or sigmoid scores (expert_gating_func; absent: softmax, as older V2 files), plus
// exp_probs_b for the choice only, group-limited top-k, optional renormalization, then the
// routed scale; shared experts (ffn_*_shexp) are added to every token.
#include "model/arch.h"

namespace shoal::model {

namespace {

Status ParseDeepseek2(const gguf::Metadata& md, ModelConfig* c) {
  if (md.Has(c->arch + ".expert_count")) SHOAL_RETURN_IF_ERROR(ParseMoeKeys(md, c).status());
  return ParseMlaKeys(md, c);
}

void ForEachDeepseek2Tensor(const ModelConfig& c, const TensorVisitor& visit) {
  const int64_t embd = c.n_embd, vocab = c.n_vocab, nh = c.n_head;
  const int64_t kvl = c.kv_lora_rank, rope = c.rope_dim, nope = c.qk_nope_dim();
  const int64_t kq = c.mla_k_dim, vd = c.mla_v_dim, ql = c.q_lora_rank;
  visit({"token_embd.weight", TensorRole::kTokenEmbd, -1, {embd, vocab}, true});
  for (int32_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    visit({p + "attn_norm.weight", TensorRole::kAttnNorm, l, {embd}, false});
    if (ql > 0) {
      visit({p + "attn_q_a.weight", TensorRole::kAttnQA, l, {embd, ql}, true});
      visit({p + "attn_q_a_norm.weight", TensorRole::kAttnQANorm, l, {ql}, false});
      visit({p + "attn_q_b.weight", TensorRole::kAttnQB, l, {ql, nh * kq}, true});
    } else {
      visit({p + "attn_q.weight", TensorRole::kAttnQ, l, {embd, nh * kq}, true});
    }
    visit({p + "attn_kv_a_mqa.weight", TensorRole::kAttnKvAMqa, l, {embd, kvl + rope}, true});
    visit({p + "attn_kv_a_norm.weight", TensorRole::kAttnKvANorm, l, {kvl}, false});
    if (c.mla_kv_b) {
      visit({p + "attn_kv_b.weight", TensorRole::kAttnKvB, l, {kvl, nh * (nope + vd)}, true});
    } else {
      visit({p + "attn_k_b.weight", TensorRole::kAttnKB, l, {nope, kvl, nh}, true});
      visit({p + "attn_v_b.weight", TensorRole::kAttnVB, l, {kvl, vd, nh}, true});
    }
    visit({p + "attn_output.weight", TensorRole::kAttnOut, l, {nh * vd, embd}, true});
    ForEachFfnTensor(c, l, p, visit);
  }
  visit({"output_norm.weight", TensorRole::kOutputNorm, -1, {embd}, false});
  if (!c.tied_output) visit({"output.weight", TensorRole::kOutput, -1, {embd, vocab}, true});
}

}  // namespace

extern const Arch kDeepseek2Arch;
const Arch kDeepseek2Arch = {
    .name = "deepseek2",
    .rope_style = RopeStyle::kNormal,
    .default_rms_eps = 1e-6f,
    .parse = ParseDeepseek2,
    .for_each_tensor = ForEachDeepseek2Tensor,
};

}  // namespace shoal::model
